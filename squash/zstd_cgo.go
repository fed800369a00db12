//go:build cgo

package squash

/*
#cgo pkg-config: libzstd
#include <stdlib.h>
#include <zstd.h>
#include <zstd_errors.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// cgoAvailable: this build has the C libraries, libzstd here and liblzma (xz_cgo.go).
const cgoAvailable = true

// zstd through libzstd: ZSTD_compressCCtx per block, as squashfs-tools' zstd_wrapper.c does.
// Knowing the block's size, libzstd writes a single-segment frame whose window is no larger than
// the block, which is what the kernel's decompressor needs.

type zstdC struct {
	level int
	ctxs  chan *C.ZSTD_CCtx
	all   []*C.ZSTD_CCtx
}

func newZstdC(level, workers int) (compressor, error) {
	if max := int(C.ZSTD_maxCLevel()); level < 1 || level > max {
		return nil, fmt.Errorf("squash: zstd level %d out of range 1-%d", level, max)
	}
	n := max(workers, 1) + 1
	z := &zstdC{level: level, ctxs: make(chan *C.ZSTD_CCtx, n)}
	for i := 0; i < n; i++ {
		ctx := C.ZSTD_createCCtx()
		if ctx == nil {
			z.close()
			return nil, fmt.Errorf("squash: zstd: cannot create a compression context")
		}
		z.all = append(z.all, ctx)
		z.ctxs <- ctx
	}
	return z, nil
}

func (z *zstdC) id() uint16      { return compressionZstd }
func (z *zstdC) options() []byte { return zstdOptions(z.level) }
func (z *zstdC) compress(dst, src []byte) ([]byte, bool, error) {
	if len(src) == 0 {
		return nil, false, nil
	}
	// A result as large as the input is useless: give libzstd one byte less than that.
	limit := len(src) - 1
	if cap(dst) < limit {
		dst = make([]byte, limit)
	}
	dst = dst[:limit]
	if limit == 0 {
		return nil, false, nil
	}
	ctx := <-z.ctxs
	n := C.ZSTD_compressCCtx(ctx, unsafe.Pointer(&dst[0]), C.size_t(limit),
		unsafe.Pointer(&src[0]), C.size_t(len(src)), C.int(z.level))
	z.ctxs <- ctx
	if C.ZSTD_isError(n) != 0 {
		if C.ZSTD_getErrorCode(n) == C.ZSTD_error_dstSize_tooSmall {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("squash: zstd: %s", C.GoString(C.ZSTD_getErrorName(n)))
	}
	return dst[:n], true, nil
}
func (z *zstdC) slow() bool { return z.level >= 10 }
func (z *zstdC) String() string {
	return fmt.Sprintf("zstd level %d (libzstd %s)", z.level, C.GoString(C.ZSTD_versionString()))
}
func (z *zstdC) close() {
	for _, ctx := range z.all {
		C.ZSTD_freeCCtx(ctx)
	}
	z.all = nil
}

// incompressible reports whether libzstd at level 1 saves less than trialMinSaving percent of
// src and src is flat (see codec.go): then the block is stored as it is, whatever the compressor.
// It depends on the bytes alone.
func incompressible(src []byte) bool {
	return flat(src) && !trialSaves(src) // counting bytes is the cheaper test
}

// trialSaves reports whether libzstd at level 1 saves at least trialMinSaving percent of src.
func trialSaves(src []byte) bool {
	limit := len(src) - len(src)*trialMinSaving/100
	if limit <= 0 {
		return true
	}
	t := trialCtxs()
	ctx := <-t.ctxs
	defer func() { t.ctxs <- ctx }()
	buf := t.bufs.Get().(*[]byte)
	defer t.bufs.Put(buf)
	if cap(*buf) < limit {
		*buf = make([]byte, limit)
	}
	dst := (*buf)[:limit]
	n := C.ZSTD_compressCCtx(ctx.c, unsafe.Pointer(&dst[0]), C.size_t(limit),
		unsafe.Pointer(&src[0]), C.size_t(len(src)), 1)
	return C.ZSTD_isError(n) == 0 // the only error here: the result did not fit the limit
}

type trialCtx struct{ c *C.ZSTD_CCtx }

// trialCtxs is a process-wide pool of level-1 contexts, one per core, never freed.
var trialCtxs = sync.OnceValue(func() *struct {
	ctxs chan trialCtx
	bufs sync.Pool
} {
	n := runtime.GOMAXPROCS(0) + 1
	t := &struct {
		ctxs chan trialCtx
		bufs sync.Pool
	}{ctxs: make(chan trialCtx, n)}
	t.bufs.New = func() any { b := make([]byte, 0, MaxBlockSize); return &b }
	for i := 0; i < n; i++ {
		t.ctxs <- trialCtx{C.ZSTD_createCCtx()}
	}
	return t
})

//go:build cgo

package squash

/*
#cgo pkg-config: libzstd liblzma
#include <stdlib.h>
#include <zstd.h>
#include <zstd_errors.h>
#include <lzma.h>

// xz_encode compresses one block into one xz stream with a CRC32 check, as mksquashfs's
// xz_wrapper.c does: an optional BCJ filter, then LZMA2 with the given preset and dictionary.
// It returns LZMA_OK, LZMA_BUF_ERROR when the output would not fit out_size, or another error.
static int gonixiso_xz_encode(const uint8_t *in, size_t in_size, uint8_t *out, size_t *out_pos,
		size_t out_size, uint32_t preset, uint32_t dict_size, int bcj) {
	lzma_options_lzma opt;
	if (lzma_lzma_preset(&opt, preset))
		return LZMA_OPTIONS_ERROR;
	opt.dict_size = dict_size;
	lzma_filter filters[3];
	int i = 0;
	if (bcj) {
		filters[i].id = (lzma_vli)bcj;
		filters[i].options = NULL;
		i++;
	}
	filters[i].id = LZMA_FILTER_LZMA2;
	filters[i].options = &opt;
	i++;
	filters[i].id = LZMA_VLI_UNKNOWN;
	filters[i].options = NULL;
	*out_pos = 0;
	return lzma_stream_buffer_encode(filters, LZMA_CHECK_CRC32, NULL, in, in_size, out, out_pos, out_size);
}

static int gonixiso_xz_decode(const uint8_t *in, size_t in_size, uint8_t *out, size_t *out_pos,
		size_t out_size) {
	uint64_t memlimit = UINT64_MAX;
	size_t in_pos = 0;
	*out_pos = 0;
	return lzma_stream_buffer_decode(&memlimit, 0, NULL, in, &in_pos, in_size, out, out_pos, out_size);
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

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

func (z *zstdC) id() uint16 { return CompressionZstd }
func (z *zstdC) options() []byte {
	return (&zstdGo{level: z.level}).options()
}
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
// src (see compress.go): then the block is stored as it is. It depends on the bytes alone.
func incompressible(src []byte) bool {
	limit := len(src) - len(src)*trialMinSaving/100
	if limit <= 0 {
		return false
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
	return C.ZSTD_isError(n) != 0 // the only error here: the result did not fit the limit
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

// xz through liblzma.

type xzC struct {
	preset    int
	dictSize  int
	filters   []uint32 // squashfs filter flags, tried per block besides no filter
	blockSize int
}

// liblzma filter ids for the squashfs filter flags.
var lzmaFilterID = map[uint32]C.int{
	xzFilterX86:      C.LZMA_FILTER_X86,
	xzFilterPowerPC:  C.LZMA_FILTER_POWERPC,
	xzFilterIA64:     C.LZMA_FILTER_IA64,
	xzFilterARM:      C.LZMA_FILTER_ARM,
	xzFilterARMThumb: C.LZMA_FILTER_ARMTHUMB,
	xzFilterSPARC:    C.LZMA_FILTER_SPARC,
}

func newXZC(preset, blockSize int, filters []uint32) (compressor, error) {
	return &xzC{preset: preset, dictSize: blockSize, filters: filters, blockSize: blockSize}, nil
}

func (x *xzC) id() uint16 { return CompressionXZ }
func (x *xzC) options() []byte {
	var flags uint32
	for _, f := range x.filters {
		flags |= f
	}
	if flags == 0 && x.dictSize == x.blockSize {
		return nil
	}
	b := make([]byte, xzOptSize)
	putU32(b[xzOptDictSize:], uint32(x.dictSize))
	putU32(b[xzOptFilters:], flags)
	return b
}

func (x *xzC) encode(dst, src []byte, bcj C.int) ([]byte, bool, error) {
	limit := len(src) - 1
	if limit <= 0 {
		return nil, false, nil
	}
	if cap(dst) < limit {
		dst = make([]byte, limit)
	}
	dst = dst[:limit]
	var n C.size_t
	ret := C.gonixiso_xz_encode((*C.uint8_t)(&src[0]), C.size_t(len(src)), (*C.uint8_t)(&dst[0]), &n,
		C.size_t(limit), C.uint32_t(x.preset), C.uint32_t(x.dictSize), bcj)
	switch ret {
	case C.LZMA_OK:
		return dst[:n], true, nil
	case C.LZMA_BUF_ERROR:
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("squash: xz: liblzma error %d", int(ret))
}

func (x *xzC) compress(dst, src []byte) ([]byte, bool, error) {
	best, ok, err := x.encode(dst, src, 0)
	if err != nil {
		return nil, false, err
	}
	// Each filter is tried too, and the smallest result kept (mksquashfs -Xbcj).
	for _, f := range x.filters {
		var scratch []byte
		out, fok, err := x.encode(scratch, src, lzmaFilterID[f])
		if err != nil {
			return nil, false, err
		}
		if fok && (!ok || len(out) < len(best)) {
			best, ok = append(dst[:0], out...), true
		}
	}
	return best, ok, nil
}
func (x *xzC) slow() bool { return true }
func (x *xzC) String() string {
	s := fmt.Sprintf("xz preset %d (liblzma %s)", x.preset, C.GoString(C.lzma_version_string()))
	for _, f := range x.filters {
		for _, b := range bcjFilters {
			if b.flag == f {
				s += " bcj " + b.name
			}
		}
	}
	return s
}
func (x *xzC) close() {}

// xzDecodeC decodes one xz stream of at most len(dst) bytes with liblzma (all filters).
func xzDecodeC(dst, src []byte) (int, error) {
	if len(src) == 0 || len(dst) == 0 {
		return 0, fmt.Errorf("squash: xz: empty block")
	}
	var n C.size_t
	ret := C.gonixiso_xz_decode((*C.uint8_t)(&src[0]), C.size_t(len(src)), (*C.uint8_t)(&dst[0]), &n, C.size_t(len(dst)))
	if ret != C.LZMA_OK {
		return 0, fmt.Errorf("squash: xz: liblzma error %d", int(ret))
	}
	return int(n), nil
}

//go:build cgo

package squash

/*
#cgo pkg-config: liblzma
#include <stdlib.h>
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

// xz_decode decodes one stream with liblzma, which allocates the dictionary the stream
// declares: more than memlimit is LZMA_MEMLIMIT_ERROR.
static int gonixiso_xz_decode(const uint8_t *in, size_t in_size, uint8_t *out, size_t *out_pos,
		size_t out_size, uint64_t memlimit) {
	size_t in_pos = 0;
	*out_pos = 0;
	return lzma_stream_buffer_decode(&memlimit, 0, NULL, in, &in_pos, in_size, out, out_pos, out_size);
}
*/
import "C"

import (
	"fmt"
	"sync/atomic"
)

// xzGoFallbacks counts the blocks liblzma left to Go for their dictionaries (for tests).
var xzGoFallbacks atomic.Int64

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

func (x *xzC) id() uint16      { return compressionXZ }
func (x *xzC) options() []byte { return xzOptions(x.dictSize, x.blockSize, x.filters) }

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

// xzDecodeC decodes one xz stream of at most len(dst) bytes with liblzma (all filters), in
// xzMemLimit bytes of memory. A stream that declares a larger dictionary, which liblzma would
// allocate whole, is decoded in Go, whose dictionary is no larger than dst.
func xzDecodeC(dst, src []byte) (int, error) {
	if len(src) == 0 || len(dst) == 0 {
		return 0, fmt.Errorf("squash: xz: empty block")
	}
	var n C.size_t
	ret := C.gonixiso_xz_decode((*C.uint8_t)(&src[0]), C.size_t(len(src)), (*C.uint8_t)(&dst[0]), &n, C.size_t(len(dst)),
		C.uint64_t(xzMemLimit))
	switch ret {
	case C.LZMA_OK:
		return int(n), nil
	case C.LZMA_MEMLIMIT_ERROR:
		xzGoFallbacks.Add(1)
		return xzDecodeGo(dst, src)
	}
	return 0, fmt.Errorf("squash: xz: liblzma error %d", int(ret))
}

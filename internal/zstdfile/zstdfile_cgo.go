//go:build cgo

package zstdfile

/*
#cgo pkg-config: libzstd
#include <stdlib.h>
#include <zstd.h>

static size_t gonixiso_zstd_setup(ZSTD_CCtx *c, int level) {
	size_t r = ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
	if (ZSTD_isError(r)) return r;
	return ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
}

static size_t gonixiso_zstd_stream(ZSTD_CCtx *c, void *dst, size_t dst_cap, size_t *dst_pos,
		const void *src, size_t src_size, size_t *src_pos, int end) {
	ZSTD_outBuffer out = { dst, dst_cap, 0 };
	ZSTD_inBuffer in = { src, src_size, *src_pos };
	size_t r = ZSTD_compressStream2(c, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
	*dst_pos = out.pos;
	*src_pos = in.pos;
	return r;
}
*/
import "C"

import (
	"fmt"
	"io"
	"unsafe"
)

func compress(dst io.Writer, src io.Reader) error {
	c := C.ZSTD_createCCtx()
	if c == nil {
		return fmt.Errorf("zstd: cannot make a compression context")
	}
	defer C.ZSTD_freeCCtx(c)
	if r := C.gonixiso_zstd_setup(c, Level); C.ZSTD_isError(r) != 0 {
		return fmt.Errorf("zstd: %s", C.GoString(C.ZSTD_getErrorName(r)))
	}
	inCap, outCap := int(C.ZSTD_CStreamInSize())*4, int(C.ZSTD_CStreamOutSize())
	in := C.malloc(C.size_t(inCap))
	out := C.malloc(C.size_t(outCap))
	defer C.free(in)
	defer C.free(out)
	inBuf := unsafe.Slice((*byte)(in), inCap)
	outBuf := unsafe.Slice((*byte)(out), outCap)
	for eof := false; !eof; {
		n, err := io.ReadFull(src, inBuf)
		switch err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			eof = true
		default:
			return err
		}
		var pos C.size_t
		for {
			var written C.size_t
			end := C.int(0)
			if eof {
				end = 1
			}
			r := C.gonixiso_zstd_stream(c, out, C.size_t(outCap), &written, in, C.size_t(n), &pos, end)
			if C.ZSTD_isError(r) != 0 {
				return fmt.Errorf("zstd: %s", C.GoString(C.ZSTD_getErrorName(r)))
			}
			if _, err := dst.Write(outBuf[:written]); err != nil {
				return err
			}
			// Continue until the input is taken; at the end, until the frame is flushed.
			if eof && r == 0 || !eof && int(pos) == n {
				break
			}
		}
	}
	return nil
}

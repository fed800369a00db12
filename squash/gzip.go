package squash

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zlib"
)

// gzip: each block one zlib stream (RFC 1950, not a gzip file), as squashfs-tools'
// gzip_wrapper.c writes it; klauspost/compress deflates and inflates it. The kernel's
// decompressor (fs/squashfs/zlib_wrapper.c) inflates with a 32 KiB window and no preset
// dictionary.

// compressionGzip is gzip's compression id.
const compressionGzip = 1

// Compressor options: the level (1-9, default 9), the window size in bits (8-15, default 15)
// and strategy flags, stored only when the level is not the default.
const (
	gzipOptLevel      = 0 // u32
	gzipOptWindowSize = 4 // u16
	gzipOptStrategies = 6 // u16
	gzipOptSize       = 8
	gzipDefaultLevel  = 9
	gzipDefaultWindow = 15
)

func init() { register(gzipCodec{}) }

type gzipCodec struct{}

func (gzipCodec) id() uint16      { return compressionGzip }
func (gzipCodec) name() Algorithm { return Gzip }

func (gzipCodec) newCompressor(c Compression, blockSize, workers int) (compressor, error) {
	level := c.Level
	if level == 0 {
		level = gzipDefaultLevel
	}
	if level < 1 || level > 9 {
		return nil, fmt.Errorf("squash: gzip level %d out of range 1-9", level)
	}
	return &gzipCompressor{level: level}, nil
}

func (gzipCodec) defaults(o *CompressorOptions, blockSize int) {
	o.Level, o.GzipWindow = gzipDefaultLevel, gzipDefaultWindow
}

func (g gzipCodec) parseOptions(o *CompressorOptions, b []byte) error {
	if err := optionsLen(g, b, gzipOptSize); err != nil {
		return err
	}
	le := binary.LittleEndian
	o.Level = int(le.Uint32(b[gzipOptLevel:]))
	o.GzipWindow = int(le.Uint16(b[gzipOptWindowSize:]))
	o.GzipStrategies = le.Uint16(b[gzipOptStrategies:])
	return nil
}

func (gzipCodec) checkOptions(*Superblock) error { return nil }

type gzipCompressor struct {
	level int
	pool  sync.Pool
}

func (g *gzipCompressor) id() uint16 { return compressionGzip }
func (g *gzipCompressor) options() []byte {
	if g.level == gzipDefaultLevel {
		return nil
	}
	b := make([]byte, gzipOptSize)
	binary.LittleEndian.PutUint32(b[gzipOptLevel:], uint32(g.level))
	binary.LittleEndian.PutUint16(b[gzipOptWindowSize:], gzipDefaultWindow)
	return b
}
func (g *gzipCompressor) compress(dst, src []byte) ([]byte, bool, error) {
	buf := bytes.NewBuffer(dst[:0])
	w, _ := g.pool.Get().(*zlib.Writer)
	if w == nil {
		var err error
		if w, err = zlib.NewWriterLevel(buf, g.level); err != nil {
			return nil, false, fmt.Errorf("squash: gzip: %w", err)
		}
	} else {
		w.Reset(buf)
	}
	defer g.pool.Put(w)
	if _, err := w.Write(src); err != nil {
		return nil, false, fmt.Errorf("squash: gzip: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, false, fmt.Errorf("squash: gzip: %w", err)
	}
	out := buf.Bytes()
	return out, len(out) < len(src), nil
}
func (g *gzipCompressor) slow() bool     { return false }
func (g *gzipCompressor) String() string { return fmt.Sprintf("gzip level %d", g.level) }
func (g *gzipCompressor) close()         {}

// Reading.

type gzipDecoder struct {
	pool *sync.Pool // of io.ReadCloser implementing zlib.Resetter
}

func (gzipCodec) newDecoder(bool) (decoder, error) { return gzipDecoder{&sync.Pool{}}, nil }

func (d gzipDecoder) decode(dst, src []byte) (int, error) {
	if len(src) == 0 {
		return 0, errors.New("empty compressed block")
	}
	n, _, err := d.inflate(dst, src)
	return n, err
}

// decodeKernel holds the block to a zlib stream of deflate with a 32 KiB window or less and no
// preset dictionary, which fills the block.
func (d gzipDecoder) decodeKernel(dst, src []byte, sb *Superblock) (int, error) {
	if len(src) < 2 {
		return 0, errors.New("gzip: block shorter than a zlib header")
	}
	cmf, flg := src[0], src[1]
	switch {
	case cmf&0x0F != 8:
		return 0, fmt.Errorf("gzip: zlib compression method %d, not deflate", cmf&0x0F)
	case cmf>>4 > 7:
		return 0, fmt.Errorf("gzip: zlib window of 2^%d bytes, more than 32 KiB", cmf>>4+8)
	case (uint16(cmf)<<8|uint16(flg))%31 != 0:
		return 0, errors.New("gzip: bad zlib header check")
	case flg&0x20 != 0:
		return 0, errors.New("gzip: zlib stream needs a preset dictionary")
	}
	n, left, err := d.inflate(dst, src)
	if err != nil {
		return 0, err
	}
	if left != 0 {
		return 0, fmt.Errorf("gzip: %d bytes after the zlib stream", left)
	}
	return n, nil
}

// contentSize: a zlib stream does not record it.
func (gzipDecoder) contentSize([]byte) (int, bool) { return 0, false }

// inflate decodes a zlib stream and also returns the number of bytes after it.
func (d gzipDecoder) inflate(dst, src []byte) (n, left int, err error) {
	in := bytes.NewReader(src) // an io.ByteReader: the inflater reads no further than the stream
	var zr io.ReadCloser
	if v := d.pool.Get(); v != nil {
		zr = v.(io.ReadCloser)
		if err := zr.(zlib.Resetter).Reset(in, nil); err != nil {
			return 0, 0, fmt.Errorf("gzip: %w", err)
		}
	} else if zr, err = zlib.NewReader(in); err != nil {
		return 0, 0, fmt.Errorf("gzip: %w", err)
	}
	n, err = readAllInto(zr, dst)
	if err != nil {
		return 0, 0, fmt.Errorf("gzip: %w", err)
	}
	d.pool.Put(zr)
	return n, in.Len(), nil
}

// readAllInto reads r to its end into dst; more than len(dst) bytes is an error.
func readAllInto(r io.Reader, dst []byte) (int, error) {
	n := 0
	for n < len(dst) {
		k, err := r.Read(dst[n:])
		n += k
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if k == 0 {
			return n, io.ErrNoProgress
		}
	}
	var one [1]byte
	for {
		k, err := r.Read(one[:])
		if k > 0 {
			return n, errTooLarge
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

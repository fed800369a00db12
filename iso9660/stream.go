package iso9660

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
)

// A Stream is the contents of a file added by Writer.Stream, written in place: straight into the
// image file at their final offset, after every other file's data, so that a producer such as a
// SquashFS writer needs no file of its own and no copy. Writes may come in any order (Seek,
// WriteAt); the file's size is the end of what has been written when the Writer is closed. A
// Stream also reads back what was written (ReadAt), from any goroutine.
type Stream struct {
	f    *os.File
	off  int64        // where the contents start in the image file
	pos  int64        // Write's position in the contents
	size atomic.Int64 // the end of what was written
	done bool         // the Writer is closed: no more writes
}

// Stream adds a regular file at name whose contents the caller writes through the returned
// Stream, in place. It needs a Writer made by NewWriter on an *os.File opened for reading and
// writing. Stream lays out the rest of the image now, reporting its errors now, so the tree and
// the boot settings are final: no entry can be added, nor the boot set, after it, and at most
// one file is streamed. Its data comes after every other file's; otherwise the image is the
// one that AddFile with its contents would make.
func (w *Writer) Stream(name string, hdr Header) (*Stream, error) {
	f, ok := w.dst.(*os.File)
	if !ok {
		return nil, w.fail(fmt.Errorf("iso9660: %s: streaming needs an image written to an *os.File", name))
	}
	if w.stream != nil {
		return nil, w.fail(fmt.Errorf("iso9660: %s: a file is streamed already", name))
	}
	n := &node{kind: kindFile, exec: hdr.Mode&0o111 != 0, size: 1}
	if err := w.add(name, n); err != nil {
		return nil, err
	}
	w.streamed = n
	lay, err := w.layout()
	if err != nil {
		return nil, w.fail(err)
	}
	w.stream = &Stream{f: f, off: int64(lay.streamed.dataLBA) * SectorSize}
	return w.stream, nil
}

// DataOffset returns where the contents start in the image file (as archive/zip's
// File.DataOffset): a caller that copies ranges of the contents between files by their offsets
// adds it.
func (s *Stream) DataOffset() int64 { return s.off }

// Size returns the end of what has been written.
func (s *Stream) Size() int64 { return s.size.Load() }

var errStreamClosed = errors.New("iso9660: stream: the image is closed")

func (s *Stream) grow(end int64) {
	for {
		old := s.size.Load()
		if end <= old || s.size.CompareAndSwap(old, end) {
			return
		}
	}
}

// WriteAt writes p at offset off of the contents.
func (s *Stream) WriteAt(p []byte, off int64) (int, error) {
	if s.done {
		return 0, errStreamClosed
	}
	if off < 0 {
		return 0, fmt.Errorf("iso9660: stream: negative offset %d", off)
	}
	n, err := s.f.WriteAt(p, s.off+off)
	s.grow(off + int64(n))
	return n, err
}

// Write writes p at the position of the last Seek or Write.
func (s *Stream) Write(p []byte) (int, error) {
	n, err := s.WriteAt(p, s.pos)
	s.pos += int64(n)
	return n, err
}

// ReadFrom copies r to the position of the last Seek or Write, by copy_file_range when r is a
// file (or a limit on one), as io.Copy into an *os.File does.
func (s *Stream) ReadFrom(r io.Reader) (int64, error) {
	if s.done {
		return 0, errStreamClosed
	}
	if _, err := s.f.Seek(s.off+s.pos, io.SeekStart); err != nil {
		return 0, err
	}
	n, err := s.f.ReadFrom(r)
	s.pos += n
	s.grow(s.pos)
	return n, err
}

// Seek sets the position of the next Write.
func (s *Stream) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += s.pos
	case io.SeekEnd:
		offset += s.size.Load()
	case io.SeekStart:
	default:
		return 0, fmt.Errorf("iso9660: stream: bad whence %d", whence)
	}
	if offset < 0 {
		return 0, fmt.Errorf("iso9660: stream: negative position %d", offset)
	}
	s.pos = offset
	return offset, nil
}

// ReadAt reads what was written at offset off of the contents.
func (s *Stream) ReadAt(p []byte, off int64) (int, error) {
	size := s.size.Load()
	if off < 0 {
		return 0, fmt.Errorf("iso9660: stream: negative offset %d", off)
	}
	if off >= size {
		return 0, io.EOF
	}
	short := int64(len(p)) > size-off
	if short {
		p = p[:size-off]
	}
	n, err := s.f.ReadAt(p, s.off+off)
	if err == nil && short {
		err = io.EOF
	}
	return n, err
}

// place moves the contents to their offset in the final layout, at off: the same unless the
// contents needed more directory records (over 4 GiB) or none (empty) than Stream laid out.
func (s *Stream) place(off int64) error {
	size := s.size.Load()
	if off == s.off || size == 0 {
		return nil
	}
	if off < s.off {
		return fmt.Errorf("iso9660: internal error: streamed contents moving back from %d to %d", s.off, off)
	}
	buf := make([]byte, 1<<20)
	for end := size; end > 0; { // from the end, as the ranges overlap
		n := min(end, int64(len(buf)))
		end -= n
		if _, err := s.f.ReadAt(buf[:n], s.off+end); err != nil {
			return fmt.Errorf("iso9660: moving the streamed contents: %w", err)
		}
		if _, err := s.f.WriteAt(buf[:n], off+end); err != nil {
			return fmt.Errorf("iso9660: moving the streamed contents: %w", err)
		}
	}
	s.off = off
	return nil
}

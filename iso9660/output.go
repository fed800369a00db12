package iso9660

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// output writes the image sequentially and knows its position.
type output struct {
	w   io.Writer
	f   *os.File // w, when it is a file: file data is then copied by the kernel
	pos int64
	buf []byte
}

var zeros = make([]byte, 64<<10)

func (o *output) write(b []byte) error {
	n, err := o.w.Write(b)
	o.pos += int64(n)
	if err != nil {
		return fmt.Errorf("iso9660: write: %w", err)
	}
	return nil
}

// padTo writes zeros up to offset off.
func (o *output) padTo(off int64) error {
	if o.pos > off {
		return fmt.Errorf("iso9660: internal error: at byte %d, past the next extent at %d", o.pos, off)
	}
	for o.pos < off {
		if err := o.write(zeros[:min(int64(len(zeros)), off-o.pos)]); err != nil {
			return err
		}
	}
	return nil
}

// skip passes over n bytes of an output file that are written already.
func (o *output) skip(n int64) error {
	if o.f == nil {
		return fmt.Errorf("iso9660: internal error: passing over bytes of an output that is not a file")
	}
	if _, err := o.f.Seek(n, io.SeekCurrent); err != nil {
		return fmt.Errorf("iso9660: %w", err)
	}
	o.pos += n
	return nil
}

// copyN copies n bytes from r, by copy_file_range when r and the output are files.
func (o *output) copyN(r io.Reader, n int64) (int64, error) {
	var written int64
	var err error
	if o.f != nil {
		written, err = o.f.ReadFrom(&io.LimitedReader{R: r, N: n})
	} else {
		if o.buf == nil {
			o.buf = make([]byte, 1<<20)
		}
		written, err = io.CopyBuffer(o.w, io.LimitReader(r, n), o.buf)
	}
	o.pos += written
	return written, err
}

// writeTo writes the image: the system area, the metadata, the file data in sector order, the
// padding and the backup GPT.
func (l *layout) writeTo(w io.Writer) error {
	o := &output{w: w}
	if f, ok := w.(*os.File); ok {
		o.f = f
	}
	if err := o.write(l.sys); err != nil {
		return err
	}
	if err := o.write(l.meta); err != nil {
		return err
	}
	for _, e := range l.files {
		if err := o.padTo(int64(e.dataLBA) * SectorSize); err != nil {
			return err
		}
		if e == l.streamed { // in place already: pass over it
			if err := o.skip(e.n.size); err != nil {
				return err
			}
			continue
		}
		var err error
		if e.data != nil {
			err = o.write(e.data)
		} else {
			err = o.copySource(e)
		}
		if err != nil {
			return err
		}
	}
	end := int64(l.totalSectors) * SectorSize
	if err := o.padTo(end - int64(len(l.tail))); err != nil {
		return err
	}
	return o.write(l.tail)
}

// errSize reports a source that does not hold the bytes it declared.
var errSize = errors.New("source has changed size")

// copySource copies a file's data from its Source and checks it is exactly the declared size.
func (o *output) copySource(e *entry) error {
	name, size := "/"+e.path, e.n.size
	if s, ok := e.n.src.(funcSource); ok {
		lw := &limitedWriter{o: o, left: size}
		if err := s.write(lw); err != nil {
			return fmt.Errorf("iso9660: %s: %w", name, err)
		}
		if lw.left != 0 {
			return fmt.Errorf("iso9660: %s: %w: wrote %d bytes, declared %d", name, errSize, size-lw.left, size)
		}
		return nil
	}
	rc, err := e.n.src.Open()
	if err != nil {
		return fmt.Errorf("iso9660: %s: %w", name, err)
	}
	defer rc.Close()
	n, err := o.copyN(rc, size)
	if err != nil {
		return fmt.Errorf("iso9660: %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("iso9660: %s: %w: read %d bytes, declared %d", name, errSize, n, size)
	}
	if f, ok := rc.(*os.File); ok {
		if fi, err := f.Stat(); err != nil {
			return fmt.Errorf("iso9660: %s: %w", name, err)
		} else if fi.Size() != size {
			return fmt.Errorf("iso9660: %s: %w: now %d bytes, declared %d", name, errSize, fi.Size(), size)
		}
	} else if k, _ := io.ReadFull(rc, make([]byte, 1)); k != 0 {
		return fmt.Errorf("iso9660: %s: %w: longer than the %d bytes declared", name, errSize, size)
	}
	return rc.Close()
}

// limitedWriter is the io.Writer a FromFunc source writes to: it takes at most the declared
// size, and passes io.ReaderFrom on so that copies from files stay in the kernel.
type limitedWriter struct {
	o    *output
	left int64
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > w.left {
		return 0, fmt.Errorf("%w: more than the declared size", errSize)
	}
	if err := w.o.write(p); err != nil {
		return 0, err
	}
	w.left -= int64(len(p))
	return len(p), nil
}

func (w *limitedWriter) ReadFrom(r io.Reader) (int64, error) {
	n, err := w.o.copyN(r, w.left)
	w.left -= n
	if err != nil {
		return n, err
	}
	if k, _ := io.ReadFull(r, make([]byte, 1)); k != 0 {
		return n, fmt.Errorf("%w: more than the declared size", errSize)
	}
	return n, nil
}

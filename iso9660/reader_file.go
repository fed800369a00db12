package iso9660

import (
	"errors"
	"fmt"
	"io"
	"sort"
)

// A File reads the data of a regular file of an image: the bytes of its extents, one after the
// other, uncompressed when the file is zisofs-compressed. It is an io.ReaderAt, which parallel
// calls may share, and an io.Reader and io.Seeker, which keep one offset and may not.
// Image.Open makes one.
type File struct {
	data io.ReaderAt // the file's bytes: its extents, or what they hold uncompressed
	size int64
	off  int64 // for Read and Seek
}

// Open returns a reader of a regular file's data. Every extent must lie inside the image; the
// reader reads no byte outside them. Open reads only what the Entry says: ReadTree checks that
// the files of a tree do not share data, and so read at most the image in all.
//
// A zisofs-compressed file (a Rock Ridge ZF entry, as xorriso -zisofs and mkzftree write them)
// reads uncompressed: zisofs, and zisofs2 with zlib. Open returns an error that wraps
// errors.ErrUnsupported for zisofs2's other algorithms.
func (im *Image) Open(e *Entry) (*File, error) {
	if !e.Mode.IsRegular() {
		return nil, fmt.Errorf("iso9660: %s: not a regular file", e.Path)
	}
	x := &extents{r: im.r}
	for _, ext := range e.Extents {
		off, n := int64(ext.LBA)*SectorSize, int64(ext.Size)
		if off > im.size || n > im.size-off {
			return nil, formatErr("%s: extent of %d bytes at sector %d is beyond the end of the image (%d bytes)",
				e.Path, n, ext.LBA, im.size)
		}
		if n > 0 {
			x.ext = append(x.ext, fileExtent{off: off, pos: x.size, n: n})
		}
		x.size += n
	}
	if e.zf == nil {
		if x.size != e.Size {
			return nil, formatErr("%s: extents hold %d bytes, the file %d", e.Path, x.size, e.Size)
		}
		return &File{data: x, size: x.size}, nil
	}
	if err := e.zf.check(x.size, im.size); err != nil {
		return nil, fmt.Errorf("%s: %w", e.Path, err)
	}
	z, err := newZisofsReader(e.zf, x, x.size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Path, err)
	}
	return &File{data: z, size: e.zf.size}, nil
}

// Size is the length of the file's data.
func (f *File) Size() int64 { return f.size }

// ReadAt reads len(p) bytes at off in the file's data; fewer only at its end, with io.EOF.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("iso9660: read at a negative offset")
	}
	if off >= f.size {
		return 0, io.EOF
	}
	n, err := f.data.ReadAt(p[:min(int64(len(p)), f.size-off)], off)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// Read reads from the offset that Read and Seek keep.
func (f *File) Read(p []byte) (int, error) {
	if f.off >= f.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), f.size-f.off)]
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek sets the offset of the next Read, as io.Seeker says.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += f.size
	default:
		return 0, errors.New("iso9660: Seek: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("iso9660: Seek: negative position")
	}
	f.off = offset
	return offset, nil
}

// extents reads the bytes of a file's extents as one run.
type extents struct {
	r    io.ReaderAt // the image
	ext  []fileExtent
	size int64
}

// fileExtent is an extent of a file's data: n bytes at off in the image, the file's from pos.
type fileExtent struct{ off, pos, n int64 }

func (x *extents) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("iso9660: read at a negative offset")
	}
	i := sort.Search(len(x.ext), func(i int) bool { return x.ext[i].pos+x.ext[i].n > off })
	n := 0
	for ; n < len(p) && i < len(x.ext); i++ {
		e := x.ext[i]
		rel := off - e.pos
		k := int(min(int64(len(p)-n), e.n-rel))
		m, err := x.r.ReadAt(p[n:n+k], e.off+rel)
		n += m
		off += int64(m)
		if m < k {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

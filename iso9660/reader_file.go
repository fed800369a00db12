package iso9660

import (
	"errors"
	"fmt"
	"io"
	"sort"
)

// A File reads the data of a regular file of an image: the bytes of its extents, one after the
// other. It is an io.ReaderAt, which parallel calls may share, and an io.Reader and io.Seeker,
// which keep one offset and may not. Image.Open makes one.
type File struct {
	r    io.ReaderAt
	ext  []fileExtent // in file order
	size int64
	off  int64 // for Read and Seek
}

// fileExtent is an extent of a file's data: n bytes at off in the image, the file's from pos.
type fileExtent struct{ off, pos, n int64 }

// Open returns a reader of a regular file's data. Every extent must lie inside the image; the
// reader reads no byte outside them. Open reads only what the Entry says: Tree checks that the
// files of a tree do not share data, and so read at most the image in all.
func (im *Image) Open(e *Entry) (*File, error) {
	if !e.Mode.IsRegular() {
		return nil, fmt.Errorf("iso9660: %s: not a regular file", e.Path)
	}
	f := &File{r: im.r}
	var pos int64
	for _, x := range e.Extents {
		off, n := int64(x.LBA)*SectorSize, int64(x.Size)
		if off > im.size || n > im.size-off {
			return nil, formatErr("%s: extent of %d bytes at sector %d is beyond the end of the image (%d bytes)",
				e.Path, n, x.LBA, im.size)
		}
		if n > 0 {
			f.ext = append(f.ext, fileExtent{off: off, pos: pos, n: n})
		}
		pos += n
	}
	if pos != e.Size {
		return nil, formatErr("%s: extents hold %d bytes, the file %d", e.Path, pos, e.Size)
	}
	f.size = pos
	return f, nil
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
	i := sort.Search(len(f.ext), func(i int) bool { return f.ext[i].pos+f.ext[i].n > off })
	n := 0
	for ; n < len(p) && i < len(f.ext); i++ {
		x := f.ext[i]
		rel := off - x.pos
		k := int(min(int64(len(p)-n), x.n-rel))
		m, err := f.r.ReadAt(p[n:n+k], x.off+rel)
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

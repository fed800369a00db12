package squash

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"

	"github.com/gonixiso/gonixiso/internal/parallel"
)

// This file reads file data: a regular file's blocks and its tail in a fragment block (File),
// decoded into pooled buffers of a block's length.

// Open opens the entry name for reading, without following symlinks: a regular file reads its
// contents, a symlink its target (as archive/zip's fs.FS does) and a directory its entries
// with ReadDir.
func (r *Reader) Open(name string) (*File, error) {
	e, err := r.Lookup(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			pe.Op = "open"
			return nil, pe
		}
		return nil, err
	}
	return r.open(e)
}

// OpenEntry opens an entry that Walk or Lookup returned, as Open opens its name. Names in an
// image are bytes (any but "/" and NUL), which fs.ValidPath may refuse: a caller walking an
// image opens what it meets by its Entry.
func (r *Reader) OpenEntry(e *Entry) (*File, error) {
	return r.open(e)
}

func (r *Reader) open(e *Entry) (*File, error) {
	f := &File{r: r, e: e, bufIdx: -1}
	f.win.k = -1
	if e.Mode.IsRegular() {
		f.marks = []listMark{{block: e.list >> 16, off: int(e.list & 0xFFFF), at: e.start}}
	}
	return f, nil
}

// File is an open entry of an image. Its ReadAt is safe for concurrent use; its other methods
// are not.
type File struct {
	r *Reader
	e *Entry

	// Where the data blocks are, read from the block list a window of blockListChunk blocks at
	// a time: marks[k] is where block k*blockListChunk's word is, known for the windows read so
	// far; win is the window read last.
	mu    sync.Mutex
	marks []listMark
	list  *blockList // reading the window, reused
	win   struct {
		k     int64 // the window's index, -1 for none
		words []uint32
		at    []int64
	}

	pos    int64
	buf    []byte // a block's room, for Read
	cur    []byte // the block Read decoded last: in buf, a fragment block's or zeroBlock
	bufIdx int
	dir    []dirent // directories: entries not yet read by ReadDir
	dirRd  bool
	closed bool
}

var (
	_ fs.ReadDirFile = (*File)(nil)
	_ io.ReaderAt    = (*File)(nil)
	_ io.WriterTo    = (*File)(nil)
	_ io.Seeker      = (*File)(nil)
)

// Entry returns the file's entry.
func (f *File) Entry() *Entry { return f.e }

// Stat returns the file's FileInfo; its Sys is the *Entry.
func (f *File) Stat() (fs.FileInfo, error) { return fileInfo{f.e}, nil }

// Close closes the file.
func (f *File) Close() error {
	if f.closed {
		return fs.ErrClosed
	}
	f.closed = true
	f.buf, f.cur = nil, nil
	return nil
}

// size is the length of what Read reads: a symlink reads its target.
func (f *File) size() int64 { return fileInfo{f.e}.Size() }

func (f *File) readable() error {
	if f.closed {
		return &fs.PathError{Op: "read", Path: f.e.Name, Err: fs.ErrClosed}
	}
	if f.e.Mode.IsDir() {
		return &fs.PathError{Op: "read", Path: f.e.Name, Err: errors.New("is a directory")}
	}
	return nil
}

// Read reads the file's contents (a symlink's target) from its offset.
func (f *File) Read(p []byte) (int, error) {
	if err := f.readable(); err != nil {
		return 0, err
	}
	if f.pos >= f.size() {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.e.Mode&fs.ModeSymlink != 0 {
		n := copy(p, f.e.Linkname[f.pos:])
		f.pos += int64(n)
		return n, nil
	}
	if !f.e.Mode.IsRegular() {
		return 0, io.EOF
	}
	bs := int64(f.r.bs)
	i := int(f.pos / bs)
	if f.bufIdx != i {
		if err := f.r.contentsLeft(); err != nil {
			return 0, fmt.Errorf("squash: %s: %w", f.e.Name, err)
		}
		if f.buf == nil {
			f.buf = make([]byte, min(bs, f.size())) // room for any block of the file
		}
		b, err := f.block(i, f.buf)
		if err != nil {
			f.bufIdx = -1
			return 0, err
		}
		f.cur, f.bufIdx = b, i
	}
	n := copy(p, f.cur[f.pos-int64(i)*bs:])
	f.pos += int64(n)
	return n, nil
}

// ReadAt reads len(p) bytes of the contents from off.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if err := f.readable(); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.e.Name, Err: errors.New("negative offset")}
	}
	if f.e.Mode&fs.ModeSymlink != 0 {
		if off >= f.size() {
			return 0, io.EOF
		}
		n := copy(p, f.e.Linkname[off:])
		if n < len(p) {
			return n, io.EOF
		}
		return n, nil
	}
	if !f.e.Mode.IsRegular() {
		return 0, io.EOF
	}
	bs := int64(f.r.bs)
	scratch := f.r.getBuf()
	defer f.r.putBuf(scratch)
	n := 0
	for n < len(p) && off < f.size() {
		i := int(off / bs)
		b, err := f.block(i, *scratch)
		if err != nil {
			return n, err
		}
		k := copy(p[n:], b[off-int64(i)*bs:])
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Seek sets the offset of the next Read.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	if f.closed {
		return 0, &fs.PathError{Op: "seek", Path: f.e.Name, Err: fs.ErrClosed}
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += f.size()
	default:
		return 0, &fs.PathError{Op: "seek", Path: f.e.Name, Err: fs.ErrInvalid}
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: f.e.Name, Err: errors.New("negative offset")}
	}
	f.pos = offset
	return offset, nil
}

// WriteTo writes the rest of the contents to w. Data blocks are decoded on every core, and
// written in order.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	if err := f.readable(); err != nil {
		return 0, err
	}
	if !f.e.Mode.IsRegular() || f.pos >= f.size() {
		n, err := io.Copy(w, struct{ io.Reader }{f})
		return n, err
	}
	bs := int64(f.r.bs)
	first := int(f.pos / bs)
	last := int((f.size() - 1) / bs)
	var written int64
	emitBlock := func(i int, b []byte) error {
		lo := int64(0)
		if i == first {
			lo = f.pos - int64(i)*bs
		}
		k, err := w.Write(b[lo:])
		written += int64(k)
		f.pos += int64(k)
		if err == nil && k < len(b[lo:]) {
			err = io.ErrShortWrite
		}
		return err
	}
	if last-first < 2 {
		buf := f.r.getBuf()
		defer f.r.putBuf(buf)
		for i := first; i <= last; i++ {
			b, err := f.block(i, *buf)
			if err != nil {
				return written, err
			}
			if err := emitBlock(i, b); err != nil {
				return written, err
			}
		}
		return written, nil
	}
	type job struct {
		i   int
		buf *[]byte
		out []byte
	}
	err := parallel.Ordered(context.Background(), parallel.Options{},
		func(emit func(*job) error) error {
			for i := first; i <= last; i++ {
				if err := emit(&job{i: i}); err != nil {
					return err
				}
			}
			return nil
		},
		func(j *job) (*job, error) {
			j.buf = f.r.getBuf()
			b, err := f.block(j.i, *j.buf)
			if err != nil {
				f.r.putBuf(j.buf)
				return nil, err
			}
			j.out = b
			return j, nil
		},
		func(j *job) error {
			defer f.r.putBuf(j.buf)
			return emitBlock(j.i, j.out)
		})
	return written, err
}

// block returns the contents of block i of the file: decoded into buf (of a block's length), or
// a slice of a cached fragment block or of zeroBlock, which the caller must not change.
func (f *File) block(i int, buf []byte) ([]byte, error) {
	if err := f.r.contentsLeft(); err != nil {
		return nil, fmt.Errorf("squash: %s: %w", f.e.Name, err)
	}
	bs := int64(f.r.bs)
	want := min(bs, f.size()-int64(i)*bs)
	if uint64(i) >= f.e.nblocks {
		frag, err := f.r.fragment(f.e.fragment)
		if err != nil {
			return nil, fmt.Errorf("squash: %s: %w", f.e.Name, err)
		}
		off := int64(f.e.fragOff)
		if off+want > int64(len(frag)) {
			return nil, fmt.Errorf("squash: %s: tail of %d bytes at %d beyond the %d bytes of fragment block %d", f.e.Name, want, off, len(frag), f.e.fragment)
		}
		if err := f.r.chargeContents(want); err != nil {
			return nil, fmt.Errorf("squash: %s: %w", f.e.Name, err)
		}
		return frag[off : off+want], nil
	}
	w, at, err := f.locate(int64(i))
	if err != nil {
		return nil, err
	}
	if w == 0 {
		// A sparse block: zeros that are not stored, given from zeroBlock rather than made.
		if err := f.r.chargeContents(want); err != nil {
			return nil, fmt.Errorf("squash: %s: %w", f.e.Name, err)
		}
		return zeroBlock[:want], nil
	}
	out := buf[:want]
	// The block decodes into the room its bytes of the file take, not a whole block's: a file
	// shorter than a block needs no more.
	n, err := f.r.readBlock(at, w, out)
	if errors.Is(err, errTooLarge) {
		return nil, fmt.Errorf("squash: %s: data block %d holds more than the %d bytes of the file it should", f.e.Name, i, want)
	}
	if err != nil {
		return nil, fmt.Errorf("squash: %s: data block %d: %w", f.e.Name, i, err)
	}
	if int64(n) != want {
		return nil, fmt.Errorf("squash: %s: data block %d holds %d bytes, want %d", f.e.Name, i, n, want)
	}
	return out, nil
}

// locate returns the size word of data block i and where it is in the image, reading the
// block list's window of the block (and, the first time, those before it).
func (f *File) locate(i int64) (uint32, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := i / blockListChunk
	for f.win.k != k {
		if err := f.r.metadataLeft(); err != nil {
			return 0, 0, fmt.Errorf("squash: %s: block list: %w", f.e.Name, err)
		}
		// Read the window of block i, or the first window past the marks known.
		next := min(k, int64(len(f.marks)-1))
		if f.list == nil {
			f.list = &blockList{r: f.r, e: f.e}
		}
		l := f.list
		if err := l.seek(f.marks[next]); err != nil {
			return 0, 0, err
		}
		f.win.k, f.win.words, f.win.at = -1, f.win.words[:0], f.win.at[:0]
		for range blockListChunk {
			w, at, err := l.next()
			if err == errBlockListEnd {
				break
			}
			if err != nil {
				return 0, 0, err
			}
			f.win.words, f.win.at = append(f.win.words, w), append(f.win.at, at)
		}
		f.win.k = next
		if next == int64(len(f.marks)-1) {
			if l.i == f.e.nblocks {
				break // the last window
			}
			f.marks = append(f.marks, l.mark())
		}
	}
	j := i % blockListChunk
	if f.win.k != k || j >= int64(len(f.win.words)) {
		return 0, 0, fmt.Errorf("squash: %s: block %d beyond the block list", f.e.Name, i)
	}
	return f.win.words[j], f.win.at[j], nil
}

// readBlock reads the data block of size word w at off and decodes it into buf.
func (r *Reader) readBlock(off int64, w uint32, buf []byte) (int, error) {
	return r.readBlockWith(off, w, buf, r.dec.decode)
}

// readBlockWith reads the data block of size word w at off and decodes it into buf with decode
// (the reader's decoder, or Check's, which also holds the block to the kernel's rules). The
// block may hold at most len(buf) bytes: more is an error wrapping errTooLarge.
func (r *Reader) readBlockWith(off int64, w uint32, buf []byte, decode func(dst, src []byte) (int, error)) (int, error) {
	n := int(w &^ dataUncompressed)
	if n > r.bs {
		return 0, fmt.Errorf("block of %d bytes, more than a block", n)
	}
	if w&dataUncompressed != 0 {
		if n > len(buf) {
			return 0, fmt.Errorf("stored block of %d bytes: %w", n, errTooLarge)
		}
		if err := r.chargeContents(int64(n)); err != nil {
			return 0, err
		}
		if _, err := r.ra.ReadAt(buf[:n], off); err != nil {
			return 0, err
		}
		return n, nil
	}
	raw := r.getBuf()
	defer r.putBuf(raw)
	if _, err := r.ra.ReadAt((*raw)[:n], off); err != nil {
		return 0, err
	}
	k, err := decode(buf, (*raw)[:n])
	if err != nil {
		return 0, err
	}
	if err := r.chargeContents(int64(k)); err != nil {
		return 0, err
	}
	return k, nil
}

// zeroBlock is a sparse block's contents: read, never written.
var zeroBlock [MaxBlockSize]byte

// fragKey is a fragment block: where it is and its size word. Fragment table entries may
// share one.
type fragKey struct {
	start int64
	word  uint32
}

// fragment returns fragment block i, decoded, from the cache.
func (r *Reader) fragment(i uint32) ([]byte, error) {
	start, w, err := r.fragmentEntry(i)
	if err != nil {
		return nil, err
	}
	return r.frags.get(fragKey{start, w}, func() ([]byte, error) {
		// Decode into a block's room, and keep only what the block holds: a fragment block
		// of a small image holds a few tails.
		buf := r.getBuf()
		defer r.putBuf(buf)
		n, err := r.readBlock(start, w, *buf)
		if err != nil {
			return nil, fmt.Errorf("fragment block %d: %w", i, err)
		}
		return bytes.Clone((*buf)[:n]), nil
	})
}

// fragmentHolds returns the bytes fragment block i holds, b its Block (for the tail of a file in
// it): the block stored as it is holds its length; a compressed one, the content size its
// container records or, if it records none, the length it decodes to.
func (r *Reader) fragmentHolds(i uint32, b Block) (int64, error) {
	key := fragKey{b.ImageOffset, uint32(b.StoredSize)}
	if b.Uncompressed {
		return b.StoredSize, nil
	}
	r.holdsMu.Lock()
	n, ok := r.holds[key]
	r.holdsMu.Unlock()
	if ok {
		return n, nil
	}
	raw := r.getBuf()
	defer r.putBuf(raw)
	src := (*raw)[:b.StoredSize]
	if _, err := r.ra.ReadAt(src, b.ImageOffset); err != nil {
		return 0, fmt.Errorf("fragment block %d: %w", i, err)
	}
	if k, ok := r.dec.contentSize(src); ok && k <= r.bs {
		n = int64(k)
	} else {
		frag, err := r.fragment(i)
		if err != nil {
			return 0, err
		}
		n = int64(len(frag))
	}
	r.holdsMu.Lock()
	if r.holds == nil {
		r.holds = map[fragKey]int64{}
	}
	r.holds[key] = n
	r.holdsMu.Unlock()
	return n, nil
}

// blockBufs pools the buffers of a block's length, by block size (the index is the block
// log), for every Reader: a Reader decodes each block into room for a whole block, and an image
// opened for a moment (inspect, diff) need not allocate its own.
var blockBufs [maxBlockLog + 1]sync.Pool

// getBuf returns a buffer of a block's length.
func (r *Reader) getBuf() *[]byte {
	if b, ok := blockBufs[r.t.blockLog].Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, r.bs)
	return &b
}

func (r *Reader) putBuf(b *[]byte) {
	if b != nil && len(*b) == r.bs {
		blockBufs[r.t.blockLog].Put(b)
	}
}

// ReadDir reads a directory's entries, in name order, as fs.ReadDirFile does.
func (f *File) ReadDir(n int) ([]fs.DirEntry, error) {
	if f.closed {
		return nil, &fs.PathError{Op: "readdir", Path: f.e.Name, Err: fs.ErrClosed}
	}
	if !f.e.Mode.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: f.e.Name, Err: errors.New("not a directory")}
	}
	if !f.dirRd {
		l, err := f.r.listing(f.e)
		if err != nil {
			return nil, err
		}
		f.dir, f.dirRd = l.ents, true
	}
	k := len(f.dir)
	if n > 0 {
		if k == 0 {
			return nil, io.EOF
		}
		k = min(k, n)
	}
	out := make([]fs.DirEntry, 0, k)
	for _, c := range f.dir[:k] {
		e, err := f.r.child(f.e, c)
		if err != nil {
			return out, err
		}
		out = append(out, fs.FileInfoToDirEntry(fileInfo{e}))
		f.dir = f.dir[1:]
	}
	return out, nil
}

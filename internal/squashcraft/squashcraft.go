// Package squashcraft builds SquashFS 4.0 images by hand for tests, with the shapes no honest
// writer makes and a reader must survive (Hostile): files declaring a terabyte in a block list
// of zeros, many directory entries naming one inode, fragment entries sharing a block,
// directories nested as deep as a path allows. It is an encoder of its own, written from the format (the Linux
// kernel's fs/squashfs/squashfs_fs.h), not squash's: what it makes judges squash's reader.
//
// Images are built bottom up: files and their data, then each directory from its entries, the
// root last (Image.Finish). Metadata is compressed with zstd; a run of block-list words that
// are all zero compresses once, so a block list of a gigabyte of words costs seconds and a few
// megabytes.
package squashcraft

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/klauspost/compress/zstd"
)

// Layout, as squashfs_fs.h has it.
const (
	superblockSize  = 96
	metadataSize    = 8192
	uncompressedBit = 1 << 15 // a metadata block stored as it is
	dataStored      = 1 << 24 // a data block stored as it is
	noFragment      = 0xFFFFFFFF
	tableAbsent     = 0xFFFFFFFFFFFFFFFF
	zstdID          = 6

	typeDir, typeFile, typeSymlink = 1, 2, 3
	typeExtDir, typeExtFile        = 8, 9
)

// Ref is where an inode is: its metadata block's offset in the inode table << 16 | its offset
// in the block's bytes; and its number and type, for directory entries.
type Ref struct {
	ref uint64
	ino uint32
	typ uint16 // basic type
}

// Image is an image being built.
type Image struct {
	BlockSize int
	enc       *zstd.Encoder
	data      bytes.Buffer // the data area, after the superblock
	inodes    meta
	dirs      meta
	frags     []byte // fragment table entries
	inodeNo   uint32
}

// New starts an image of blockSize blocks (a power of two, 4 KiB to 1 MiB).
func New(blockSize int) *Image {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(false), zstd.WithWindowSize(max(blockSize, 1<<16)))
	if err != nil {
		panic(err)
	}
	im := &Image{BlockSize: blockSize, enc: enc}
	im.inodes.enc, im.dirs.enc = enc, enc
	return im
}

// meta is a metadata table being written: blocks of metadataSize bytes, each compressed.
type meta struct {
	enc   *zstd.Encoder
	out   bytes.Buffer
	buf   []byte
	zeros []byte // a block of zeros, compressed
}

func (m *meta) pos() uint64 { return uint64(m.out.Len())<<16 | uint64(len(m.buf)) }

func (m *meta) write(p []byte) {
	for len(p) > 0 {
		k := min(len(p), metadataSize-len(m.buf))
		m.buf = append(m.buf, p[:k]...)
		p = p[k:]
		if len(m.buf) == metadataSize {
			m.flush()
		}
	}
}

// zeros writes n zero bytes.
func (m *meta) writeZeros(n uint64) {
	var z [metadataSize]byte
	for n > 0 {
		k := min(n, uint64(metadataSize-len(m.buf)))
		if len(m.buf) == 0 && k == metadataSize {
			if m.zeros == nil {
				m.zeros = m.enc.EncodeAll(z[:], nil)
			}
			m.out.Write(binary.LittleEndian.AppendUint16(nil, uint16(len(m.zeros))))
			m.out.Write(m.zeros)
		} else {
			m.write(z[:k])
		}
		n -= k
	}
}

func (m *meta) flush() {
	if len(m.buf) == 0 {
		return
	}
	c := m.enc.EncodeAll(m.buf, nil)
	if len(c) >= len(m.buf) {
		m.out.Write(binary.LittleEndian.AppendUint16(nil, uint16(len(m.buf))|uncompressedBit))
		m.out.Write(m.buf)
	} else {
		m.out.Write(binary.LittleEndian.AppendUint16(nil, uint16(len(c))))
		m.out.Write(c)
	}
	m.buf = m.buf[:0]
}

// Block adds a data block holding b to the data area, compressed if that makes it smaller, and
// returns where it is and its size word.
func (im *Image) Block(b []byte) (start uint64, word uint32) {
	start = uint64(superblockSize + im.data.Len())
	c := im.enc.EncodeAll(b, nil)
	if len(c) < len(b) {
		im.data.Write(c)
		return start, uint32(len(c))
	}
	im.data.Write(b)
	return start, uint32(len(b)) | dataStored
}

// Fragment adds a fragment table entry for the block at start of size word word (which
// Block returned; many entries may share one block) and returns its index.
func (im *Image) Fragment(start uint64, word uint32) uint32 {
	i := uint32(len(im.frags) / 16)
	im.frags = binary.LittleEndian.AppendUint64(im.frags, start)
	im.frags = binary.LittleEndian.AppendUint32(im.frags, word)
	im.frags = binary.LittleEndian.AppendUint32(im.frags, 0)
	return i
}

// File describes a regular file's inode.
type File struct {
	Size  int64
	Start uint64 // of the first stored block
	// Words are the size words of the blocks that Zeros do not cover: written first.
	Words []uint32
	// Zeros is a count of zero words (sparse blocks) after Words.
	Zeros uint64
	// Tail says the file's tail is at Offset in fragment block Fragment.
	Tail             bool
	Fragment, Offset uint32
}

// File writes a file's inode (extended, for any size) and returns its reference.
func (im *Image) File(f File) Ref {
	im.inodeNo++
	ref := Ref{ref: im.inodes.pos(), ino: im.inodeNo, typ: typeFile}
	b := im.header(typeExtFile, 0o444, 56)
	le := binary.LittleEndian
	le.PutUint64(b[16:], f.Start)
	le.PutUint64(b[24:], uint64(f.Size))
	le.PutUint64(b[32:], 0) // sparse bytes: not needed by readers
	le.PutUint32(b[40:], 1)
	frag := uint32(noFragment)
	if f.Tail {
		frag = f.Fragment
	}
	le.PutUint32(b[44:], frag)
	le.PutUint32(b[48:], f.Offset)
	le.PutUint32(b[52:], 0xFFFFFFFF) // no xattrs
	im.inodes.write(b)
	for _, w := range f.Words {
		im.inodes.write(le.AppendUint32(nil, w))
	}
	im.inodes.writeZeros(4 * f.Zeros)
	return ref
}

// Symlink writes a symlink's inode.
func (im *Image) Symlink(target string) Ref {
	im.inodeNo++
	ref := Ref{ref: im.inodes.pos(), ino: im.inodeNo, typ: typeSymlink}
	b := im.header(typeSymlink, 0o777, 24)
	binary.LittleEndian.PutUint32(b[16:], 1)
	binary.LittleEndian.PutUint32(b[20:], uint32(len(target)))
	im.inodes.write(append(b, target...))
	return ref
}

// header is an inode's common header, in a buffer of its fixed part's size.
func (im *Image) header(typ uint16, mode uint16, size int) []byte {
	b := make([]byte, size)
	le := binary.LittleEndian
	le.PutUint16(b[0:], typ)
	le.PutUint16(b[2:], mode)
	le.PutUint32(b[8:], 1)
	le.PutUint32(b[12:], im.inodeNo)
	return b
}

// Entry is a directory entry: a name and the inode it names (many names may share one).
type Entry struct {
	Name string
	Ref  Ref
}

// Dir writes a directory's listing (sorted by name) and its inode, and returns its reference.
func (im *Image) Dir(entries []Entry) Ref {
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	start := im.dirs.pos()
	var size uint64
	le := binary.LittleEndian
	for i := 0; i < len(entries); {
		first := entries[i]
		j := i
		for j < len(entries) && j-i < 256 && entries[j].Ref.ref>>16 == first.Ref.ref>>16 &&
			int64(entries[j].Ref.ino)-int64(first.Ref.ino) >= -32768 && int64(entries[j].Ref.ino)-int64(first.Ref.ino) <= 32767 {
			j++
		}
		h := le.AppendUint32(nil, uint32(j-i-1))
		h = le.AppendUint32(h, uint32(first.Ref.ref>>16))
		h = le.AppendUint32(h, first.Ref.ino)
		im.dirs.write(h)
		size += uint64(len(h))
		for _, e := range entries[i:j] {
			d := le.AppendUint16(nil, uint16(e.Ref.ref))
			d = le.AppendUint16(d, uint16(int16(int64(e.Ref.ino)-int64(first.Ref.ino))))
			d = le.AppendUint16(d, e.Ref.typ)
			d = le.AppendUint16(d, uint16(len(e.Name)-1))
			im.dirs.write(append(d, e.Name...))
			size += uint64(len(d) + len(e.Name))
		}
		i = j
	}
	im.inodeNo++
	ref := Ref{ref: im.inodes.pos(), ino: im.inodeNo, typ: typeDir}
	b := im.header(typeExtDir, 0o755, 40)
	le.PutUint32(b[16:], 2)
	le.PutUint32(b[20:], uint32(size+3))
	le.PutUint32(b[24:], uint32(start>>16))
	le.PutUint32(b[28:], 0) // the parent's number: only Check reads it
	le.PutUint16(b[32:], 0)
	le.PutUint16(b[34:], uint16(start))
	le.PutUint32(b[36:], 0xFFFFFFFF)
	im.inodes.write(b)
	return ref
}

// Finish writes the tables after the data and the superblock, with root as the root directory,
// and returns the image.
func (im *Image) Finish(root Ref) []byte {
	le := binary.LittleEndian
	im.inodes.flush()
	im.dirs.flush()
	img := make([]byte, superblockSize, superblockSize+im.data.Len())
	img = append(img, im.data.Bytes()...)
	inodeTable := uint64(len(img))
	img = append(img, im.inodes.out.Bytes()...)
	dirTable := uint64(len(img))
	img = append(img, im.dirs.out.Bytes()...)
	// A lookup table: metadata blocks of entries, then the index of their offsets.
	lookup := func(entries []byte) uint64 {
		var index []byte
		for len(entries) > 0 {
			k := min(len(entries), metadataSize)
			index = le.AppendUint64(index, uint64(len(img)))
			c := im.enc.EncodeAll(entries[:k], nil)
			if len(c) < k {
				img = le.AppendUint16(img, uint16(len(c)))
				img = append(img, c...)
			} else {
				img = le.AppendUint16(img, uint16(k)|uncompressedBit)
				img = append(img, entries[:k]...)
			}
			entries = entries[k:]
		}
		at := uint64(len(img))
		img = append(img, index...)
		return at
	}
	fragTable := uint64(tableAbsent)
	if len(im.frags) > 0 {
		fragTable = lookup(im.frags)
	}
	idTable := lookup(le.AppendUint32(nil, 0))
	sb := img[:superblockSize]
	le.PutUint32(sb[0:], 0x73717368)
	le.PutUint32(sb[4:], im.inodeNo)
	le.PutUint32(sb[12:], uint32(im.BlockSize))
	le.PutUint32(sb[16:], uint32(len(im.frags)/16))
	le.PutUint16(sb[20:], zstdID)
	log := uint16(0)
	for 1<<log < im.BlockSize {
		log++
	}
	le.PutUint16(sb[22:], log)
	le.PutUint16(sb[24:], 0x0200) // no xattrs
	le.PutUint16(sb[26:], 1)
	le.PutUint16(sb[28:], 4)
	le.PutUint64(sb[32:], root.ref)
	le.PutUint64(sb[40:], uint64(len(img)))
	le.PutUint64(sb[48:], idTable)
	le.PutUint64(sb[56:], tableAbsent)
	le.PutUint64(sb[64:], inodeTable)
	le.PutUint64(sb[72:], dirTable)
	le.PutUint64(sb[80:], fragTable)
	le.PutUint64(sb[88:], tableAbsent)
	return img
}

// String describes a reference, for test failures.
func (r Ref) String() string { return fmt.Sprintf("inode %d at %#x", r.ino, r.ref) }

package squash

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"math"
)

// This file reads inodes: the Entry at an inode reference of the inode table.

// Entry is an entry of an image: its Header, and how the image stores it, which the Reader's
// methods tell (Storage, DataID, Blocks) instead of its layout.
type Entry struct {
	Header
	Inode uint32 // inode number, from 1
	Nlink uint32 // the link count the inode records
	// Children is a directory's number of entries (set by Walk, Open and Lookup).
	Children int

	typ   uint16 // inode type as stored: inodeDir to inodeExtSocket
	ref   uint64 // inode reference: inode table offset of its metadata block << 16 | offset
	xattr uint32 // extended inodes: index of the extended attributes, or noXattr

	// Regular files.
	start    uint64 // image offset of the first data block
	list     uint64 // inode table position of the block list: metadata block << 16 | offset
	nblocks  uint64 // words of the block list
	fragment uint32 // fragment block of the tail, or noFragment
	fragOff  uint32 // offset of the tail in the fragment block
	sparse   uint64 // extended file inodes: bytes of sparse blocks, as recorded

	// Directories.
	parent     uint32 // the parent's inode number
	listBlock  uint32 // directory table offset of the listing's first metadata block
	listOffset uint16 // offset of the listing in that block
	listSize   uint32 // the inode's file size: bytes of the listing + 3
	indexCount int    // extended directories: entries of the directory index
	index      uint64 // inode table position of the index, as list
}

// extended reports whether the entry's inode has the extended form.
func (e *Entry) extended() bool { return e.typ >= inodeExtDir }

// inodeReader returns a reader of the inode table at an inode reference.
func (r *Reader) inodeReader(ref uint64) (*metaReader, error) {
	off := int(ref & 0xFFFF)
	if off >= metadataSize {
		return nil, fmt.Errorf("inode reference %#x: offset beyond a metadata block", ref)
	}
	return r.newMetaReader(int64(r.t.inodeTable), int64(r.t.directoryTable), ref>>16, off)
}

// inode reads the inode at ref for the entry name.
func (r *Reader) inode(ref uint64, name string) (*Entry, error) {
	e, err := r.readInode(ref, name)
	if err != nil {
		return nil, fmt.Errorf("squash: %s: inode %#x: %w", name, ref, err)
	}
	return e, nil
}

func (r *Reader) readInode(ref uint64, name string) (*Entry, error) {
	m, err := r.inodeReader(ref)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	var h [inodeHeader + extFileSize]byte // room for the largest fixed part
	if err := m.read(h[:inodeHeader]); err != nil {
		return nil, err
	}
	e := &Entry{ref: ref, typ: le.Uint16(h[inoType:]), Inode: le.Uint32(h[inoNumber:]), xattr: noXattr, fragment: noFragment}
	e.Name = name
	e.ModTime = int64(le.Uint32(h[inoModTime:]))
	uidIdx, gidIdx := le.Uint16(h[inoUID:]), le.Uint16(h[inoGID:])
	if int(uidIdx) >= len(r.ids) || int(gidIdx) >= len(r.ids) {
		return nil, fmt.Errorf("owner index %d or %d beyond the %d ids", uidIdx, gidIdx, len(r.ids))
	}
	e.UID, e.GID = r.ids[uidIdx], r.ids[gidIdx]
	mode := le.Uint16(h[inoMode:])
	e.Mode = fs.FileMode(mode & 0o777)
	if mode&0o4000 != 0 {
		e.Mode |= fs.ModeSetuid
	}
	if mode&0o2000 != 0 {
		e.Mode |= fs.ModeSetgid
	}
	if mode&0o1000 != 0 {
		e.Mode |= fs.ModeSticky
	}
	var fixed int
	if int(e.typ) < len(inodeFixedSize) {
		fixed = inodeFixedSize[e.typ]
	}
	if fixed == 0 {
		return nil, fmt.Errorf("unknown inode type %d", e.typ)
	}
	b := h[:fixed]
	if err := m.read(b[inodeHeader:]); err != nil {
		return nil, err
	}
	switch e.typ {
	case inodeDir, inodeExtDir:
		e.Mode |= fs.ModeDir
		if e.typ == inodeDir {
			e.listBlock = le.Uint32(b[dirStartBlock:])
			e.Nlink = le.Uint32(b[dirLinkCount:])
			e.listSize = uint32(le.Uint16(b[dirFileSize:]))
			e.listOffset = le.Uint16(b[dirOffset:])
			e.parent = le.Uint32(b[dirParentInode:])
		} else {
			e.Nlink = le.Uint32(b[xdirLinkCount:])
			e.listSize = le.Uint32(b[xdirFileSize:])
			e.listBlock = le.Uint32(b[xdirStartBlock:])
			e.parent = le.Uint32(b[xdirParentInode:])
			e.indexCount = int(le.Uint16(b[xdirIndexCount:]))
			e.listOffset = le.Uint16(b[xdirOffset:])
			e.xattr = le.Uint32(b[xdirXattr:])
			// The index, which only Check reads, follows.
			block, off := m.pos()
			e.index = block<<16 | uint64(off)
		}
		if e.listOffset >= metadataSize {
			return nil, fmt.Errorf("directory listing offset %d beyond a metadata block", e.listOffset)
		}
		if e.listSize < 3 {
			return nil, fmt.Errorf("directory size %d, less than 3", e.listSize)
		}
	case inodeFile, inodeExtFile:
		var size uint64
		if e.typ == inodeFile {
			e.start = uint64(le.Uint32(b[fileStartBlock:]))
			e.fragment = le.Uint32(b[fileFragment:])
			e.fragOff = le.Uint32(b[fileOffset:])
			size = uint64(le.Uint32(b[fileSize:]))
			e.Nlink = 1
		} else {
			e.start = le.Uint64(b[xfileStartBlock:])
			size = le.Uint64(b[xfileSize:])
			e.sparse = le.Uint64(b[xfileSparse:])
			e.Nlink = le.Uint32(b[xfileLinkCount:])
			e.fragment = le.Uint32(b[xfileFragment:])
			e.fragOff = le.Uint32(b[xfileOffset:])
			e.xattr = le.Uint32(b[xfileXattr:])
		}
		if size > math.MaxInt64 {
			return nil, fmt.Errorf("file size %d out of range", size)
		}
		e.Size = int64(size)
		bs := uint64(r.bs)
		n := size / bs
		if size%bs != 0 {
			if e.fragment == noFragment {
				n++
			} else if e.fragOff >= uint32(r.bs) || uint64(e.fragOff)+size%bs > bs {
				return nil, fmt.Errorf("tail at %d of a fragment block, %d bytes: beyond the block", e.fragOff, size%bs)
			}
		} else if e.fragment != noFragment {
			return nil, fmt.Errorf("fragment %d for a file of whole blocks", e.fragment)
		}
		if e.fragment != noFragment && e.fragment >= r.sb.Fragments {
			return nil, fmt.Errorf("fragment %d beyond the image's %d", e.fragment, r.sb.Fragments)
		}
		// The block list follows; it is read when the file's data is (blocks.go), as a
		// stream, never held whole: a small image may declare a file of a terabyte.
		block, off := m.pos()
		e.list, e.nblocks = block<<16|uint64(off), n
	case inodeSymlink, inodeExtSymlink:
		e.Mode |= fs.ModeSymlink
		e.Nlink = le.Uint32(b[symLinkCount:])
		n := le.Uint32(b[symTargetSize:])
		if n == 0 || n > maxSymlink {
			return nil, fmt.Errorf("symlink target of %d bytes", n)
		}
		t, err := m.readN(uint64(n))
		if err != nil {
			return nil, fmt.Errorf("symlink target: %w", err)
		}
		e.Linkname = string(t)
		if e.typ == inodeExtSymlink {
			var x [4]byte
			if err := m.read(x[:]); err != nil {
				return nil, err
			}
			e.xattr = le.Uint32(x[:])
		}
	case inodeBlockDev, inodeExtBlockDev, inodeCharDev, inodeExtCharDev:
		e.Mode |= fs.ModeDevice
		if e.typ == inodeCharDev || e.typ == inodeExtCharDev {
			e.Mode |= fs.ModeCharDevice
		}
		e.Nlink = le.Uint32(b[devLinkCount:])
		e.Devmajor, e.Devminor = decodeDev(le.Uint32(b[devRdev:]))
		if e.typ >= inodeExtDir {
			e.xattr = le.Uint32(b[deviceSize:])
		}
	case inodeFifo, inodeExtFifo, inodeSocket, inodeExtSocket:
		if e.typ == inodeFifo || e.typ == inodeExtFifo {
			e.Mode |= fs.ModeNamedPipe
		} else {
			e.Mode |= fs.ModeSocket
		}
		e.Nlink = le.Uint32(b[ipcLinkCount:])
		if e.typ >= inodeExtDir {
			e.xattr = le.Uint32(b[ipcSize:])
		}
	}
	return e, nil
}

// inodeFixedSize is the size of each inode type's fixed part, by type.
var inodeFixedSize = [...]int{
	inodeDir: basicDirSize, inodeExtDir: extDirSize, inodeFile: basicFileSize, inodeExtFile: extFileSize,
	inodeSymlink: symlinkSize, inodeExtSymlink: symlinkSize, inodeBlockDev: deviceSize, inodeExtBlockDev: deviceSize + 4,
	inodeCharDev: deviceSize, inodeExtCharDev: deviceSize + 4, inodeFifo: ipcSize, inodeExtFifo: ipcSize + 4,
	inodeSocket: ipcSize, inodeExtSocket: ipcSize + 4,
}

// basicInodeType is the type a directory entry records for an inode type.
func basicInodeType(t uint16) uint16 {
	if t >= inodeExtDir {
		return t - extendedTypeDelta
	}
	return t
}

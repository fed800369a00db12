package squash

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"math"
)

// This file reads inodes: the Entry at an inode reference of the inode table.

// Entry is an entry of an image: its Header, and where and how the image stores it.
type Entry struct {
	Header
	Inode uint32 // inode number, from 1
	Type  uint16 // inode type as stored: InodeDir to InodeExtSocket
	Ref   uint64 // inode reference: inode table offset of its metadata block << 16 | offset
	Nlink uint32
	Xattr uint32 // extended inodes: index of the extended attributes, or NoXattr

	// Regular files.
	StartBlock     uint64   // image offset of the first data block
	Blocks         []uint32 // size word of each data block (see BlockUncompressed)
	Fragment       uint32   // fragment block of the tail, or NoFragment
	FragmentOffset uint32   // offset of the tail in the fragment block
	Sparse         uint64   // extended file inodes: bytes of sparse blocks, as recorded

	// Directories.
	Children      int    // entries in the listing (set by Walk, Open and Lookup)
	Parent        uint32 // the parent's inode number
	ListingBlock  uint32 // directory table offset of the listing's first metadata block
	ListingOffset uint16 // offset of the listing in that block
	ListingSize   uint32 // the inode's file size: bytes of the listing + 3
	IndexCount    int    // extended directories: entries of the directory index

	index []dirIndex // the directory index, read for Check
}

// Extended reports whether the entry's inode has the extended form.
func (e *Entry) Extended() bool { return e.Type >= InodeExtDir }

// inodeReader returns a reader of the inode table at an inode reference.
func (r *Reader) inodeReader(ref uint64) (*metaReader, error) {
	off := int(ref & 0xFFFF)
	if off >= MetadataSize {
		return nil, fmt.Errorf("inode reference %#x: offset beyond a metadata block", ref)
	}
	return r.newMetaReader(int64(r.sb.InodeTable), int64(r.sb.DirectoryTable), ref>>16, off)
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
	e := &Entry{Ref: ref, Type: le.Uint16(h[inoType:]), Inode: le.Uint32(h[inoNumber:]), Xattr: noXattr, Fragment: noFragment}
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
	if int(e.Type) < len(inodeFixedSize) {
		fixed = inodeFixedSize[e.Type]
	}
	if fixed == 0 {
		return nil, fmt.Errorf("unknown inode type %d", e.Type)
	}
	b := h[:fixed]
	if err := m.read(b[inodeHeader:]); err != nil {
		return nil, err
	}
	switch e.Type {
	case InodeDir, InodeExtDir:
		e.Mode |= fs.ModeDir
		if e.Type == InodeDir {
			e.ListingBlock = le.Uint32(b[dirStartBlock:])
			e.Nlink = le.Uint32(b[dirLinkCount:])
			e.ListingSize = uint32(le.Uint16(b[dirFileSize:]))
			e.ListingOffset = le.Uint16(b[dirOffset:])
			e.Parent = le.Uint32(b[dirParentInode:])
		} else {
			e.Nlink = le.Uint32(b[xdirLinkCount:])
			e.ListingSize = le.Uint32(b[xdirFileSize:])
			e.ListingBlock = le.Uint32(b[xdirStartBlock:])
			e.Parent = le.Uint32(b[xdirParentInode:])
			e.IndexCount = int(le.Uint16(b[xdirIndexCount:]))
			e.ListingOffset = le.Uint16(b[xdirOffset:])
			e.Xattr = le.Uint32(b[xdirXattr:])
			for i := 0; i < e.IndexCount; i++ {
				var ih [dirIndexHeader]byte
				if err := m.read(ih[:]); err != nil {
					return nil, fmt.Errorf("directory index: %w", err)
				}
				n := le.Uint32(ih[dindexNameSize:]) + 1
				if n > maxDirEntryName {
					return nil, fmt.Errorf("directory index name of %d bytes", n)
				}
				nb, err := m.readN(uint64(n))
				if err != nil {
					return nil, fmt.Errorf("directory index: %w", err)
				}
				e.index = append(e.index, dirIndex{index: le.Uint32(ih[dindexIndex:]), start: le.Uint32(ih[dindexStart:]), name: string(nb)})
			}
		}
		if e.ListingOffset >= MetadataSize {
			return nil, fmt.Errorf("directory listing offset %d beyond a metadata block", e.ListingOffset)
		}
		if e.ListingSize < 3 {
			return nil, fmt.Errorf("directory size %d, less than 3", e.ListingSize)
		}
	case InodeFile, InodeExtFile:
		var size uint64
		if e.Type == InodeFile {
			e.StartBlock = uint64(le.Uint32(b[fileStartBlock:]))
			e.Fragment = le.Uint32(b[fileFragment:])
			e.FragmentOffset = le.Uint32(b[fileOffset:])
			size = uint64(le.Uint32(b[fileSize:]))
			e.Nlink = 1
		} else {
			e.StartBlock = le.Uint64(b[xfileStartBlock:])
			size = le.Uint64(b[xfileSize:])
			e.Sparse = le.Uint64(b[xfileSparse:])
			e.Nlink = le.Uint32(b[xfileLinkCount:])
			e.Fragment = le.Uint32(b[xfileFragment:])
			e.FragmentOffset = le.Uint32(b[xfileOffset:])
			e.Xattr = le.Uint32(b[xfileXattr:])
		}
		if size > math.MaxInt64 {
			return nil, fmt.Errorf("file size %d out of range", size)
		}
		e.Size = int64(size)
		bs := uint64(r.bs)
		n := size / bs
		if size%bs != 0 {
			if e.Fragment == noFragment {
				n++
			} else if e.FragmentOffset >= uint32(r.bs) || uint64(e.FragmentOffset)+size%bs > bs {
				return nil, fmt.Errorf("tail at %d of a fragment block, %d bytes: beyond the block", e.FragmentOffset, size%bs)
			}
		} else if e.Fragment != noFragment {
			return nil, fmt.Errorf("fragment %d for a file of whole blocks", e.Fragment)
		}
		if e.Fragment != noFragment && e.Fragment >= r.sb.Fragments {
			return nil, fmt.Errorf("fragment %d beyond the image's %d", e.Fragment, r.sb.Fragments)
		}
		words, err := m.readN(n * 4)
		if err != nil {
			return nil, fmt.Errorf("block list: %w", err)
		}
		e.Blocks = make([]uint32, n)
		end := e.StartBlock
		for i := range e.Blocks {
			w := le.Uint32(words[4*i:])
			e.Blocks[i] = w
			if w == 0 {
				continue
			}
			if err := r.checkDataBlock(end, w); err != nil {
				return nil, fmt.Errorf("data block %d: %w", i, err)
			}
			end += uint64(w &^ dataUncompressed)
		}
	case InodeSymlink, InodeExtSymlink:
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
		if e.Type == InodeExtSymlink {
			var x [4]byte
			if err := m.read(x[:]); err != nil {
				return nil, err
			}
			e.Xattr = le.Uint32(x[:])
		}
	case InodeBlockDev, InodeExtBlockDev, InodeCharDev, InodeExtCharDev:
		e.Mode |= fs.ModeDevice
		if e.Type == InodeCharDev || e.Type == InodeExtCharDev {
			e.Mode |= fs.ModeCharDevice
		}
		e.Nlink = le.Uint32(b[devLinkCount:])
		e.Devmajor, e.Devminor = decodeDev(le.Uint32(b[devRdev:]))
		if e.Type >= InodeExtDir {
			e.Xattr = le.Uint32(b[deviceSize:])
		}
	case InodeFifo, InodeExtFifo, InodeSocket, InodeExtSocket:
		if e.Type == InodeFifo || e.Type == InodeExtFifo {
			e.Mode |= fs.ModeNamedPipe
		} else {
			e.Mode |= fs.ModeSocket
		}
		e.Nlink = le.Uint32(b[ipcLinkCount:])
		if e.Type >= InodeExtDir {
			e.Xattr = le.Uint32(b[ipcSize:])
		}
	}
	return e, nil
}

// inodeFixedSize is the size of each inode type's fixed part, by type.
var inodeFixedSize = [...]int{
	InodeDir: basicDirSize, InodeExtDir: extDirSize, InodeFile: basicFileSize, InodeExtFile: extFileSize,
	InodeSymlink: symlinkSize, InodeExtSymlink: symlinkSize, InodeBlockDev: deviceSize, InodeExtBlockDev: deviceSize + 4,
	InodeCharDev: deviceSize, InodeExtCharDev: deviceSize + 4, InodeFifo: ipcSize, InodeExtFifo: ipcSize + 4,
	InodeSocket: ipcSize, InodeExtSocket: ipcSize + 4,
}

// basicInodeType is the type a directory entry records for an inode type.
func basicInodeType(t uint16) uint16 {
	if t >= InodeExtDir {
		return t - extendedTypeDelta
	}
	return t
}

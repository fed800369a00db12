package squash

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
)

// This file reads where a regular file's data is: its block list, a size word for each block
// after the inode in the inode table, read as a stream (blockList) and never held whole, since
// a small image may declare a file of a terabyte; and what callers learn from it instead of the
// layout: the blocks as the image stores them (Blocks), how the file is stored (Storage) and the
// identity of its data (DataID).

// blockListChunk is how many size words a blockList reads at once, and a File's marks apart.
const blockListChunk = 512

// listMark is a position in a block list: where the word of block i is in the inode table
// (metadata block, offset), and the image offset of the first block stored from i on.
type listMark struct {
	block uint64
	off   int
	i     uint64
	at    uint64
}

// blockList reads a file's block list forward, checking each stored block's place in the data
// area as it goes.
type blockList struct {
	r     *Reader
	e     *Entry
	m     *metaReader
	i     uint64 // the block whose word is next
	at    uint64 // image offset of the next stored block
	buf   []byte // of up to blockListChunk words: as many as the list has, for a short one
	words []byte // read, not yet returned
}

// blockList returns a reader of e's block list from its start.
func (r *Reader) blockList(e *Entry) (*blockList, error) {
	return r.blockListAt(e, listMark{block: e.list >> 16, off: int(e.list & 0xFFFF), at: e.start})
}

// blockListAt returns a reader of e's block list from a mark.
func (r *Reader) blockListAt(e *Entry, k listMark) (*blockList, error) {
	l := &blockList{r: r, e: e}
	if err := l.seek(k); err != nil {
		return nil, err
	}
	return l, nil
}

// seek moves the reader to a mark.
func (b *blockList) seek(k listMark) error {
	if k.off >= metadataSize {
		return fmt.Errorf("squash: %s: block list at offset %d beyond a metadata block", b.e.Name, k.off)
	}
	m, err := b.r.newMetaReader(int64(b.r.t.inodeTable), int64(b.r.t.directoryTable), k.block, k.off)
	if err != nil {
		return fmt.Errorf("squash: %s: block list: %w", b.e.Name, err)
	}
	b.m, b.i, b.at, b.words = m, k.i, k.at, nil
	return nil
}

// mark returns the list's position, where the next word is read from. It is that of the
// next block only when the words read last are all returned: after a multiple of
// blockListChunk blocks from a mark, or at the list's end.
func (b *blockList) mark() listMark {
	block, off := b.m.pos()
	return listMark{block: block, off: off, i: b.i, at: b.at}
}

// next returns the size word of the next block and where it is in the image (for a sparse
// block, where the next stored block is), or errBlockListEnd past the last block.
func (b *blockList) next() (w uint32, at int64, err error) {
	if b.i >= b.e.nblocks {
		return 0, 0, errBlockListEnd
	}
	if len(b.words) == 0 {
		n := min(b.e.nblocks-b.i, blockListChunk) * 4
		if uint64(cap(b.buf)) < n {
			b.buf = make([]byte, n)
		}
		b.words = b.buf[:n]
		if err := b.m.read(b.words); err != nil {
			b.words = nil
			return 0, 0, fmt.Errorf("squash: %s: block list: %w", b.e.Name, err)
		}
	}
	w = binary.LittleEndian.Uint32(b.words)
	b.words = b.words[4:]
	at = int64(b.at)
	if w != 0 {
		if err := b.r.checkDataBlock(b.at, w); err != nil {
			return 0, 0, fmt.Errorf("squash: %s: data block %d: %w", b.e.Name, b.i, err)
		}
		b.at += uint64(w &^ dataUncompressed)
	}
	b.i++
	return w, at, nil
}

var errBlockListEnd = errors.New("end of the block list")

// A Block is a run of a regular file's contents as the image stores it: a data block, a run
// of sparse blocks, or the file's tail in a fragment block. Blocks lists them in order; they
// cover the contents without gaps.
type Block struct {
	Offset int64 // where the run starts in the file's contents
	Size   int64 // bytes of contents it holds
	// Sparse marks a run of zeros the image does not store.
	Sparse bool
	// Tail marks the file's last bytes, packed in a fragment block with other files' tails.
	Tail bool
	// ImageOffset and StoredSize are where the stored block lies in the image (for a tail, its
	// fragment block) and the bytes it takes there; Uncompressed says that those bytes are the
	// contents as they are. Two blocks of images with the same compressor and block size
	// whose stored bytes are equal hold equal contents.
	ImageOffset  int64
	StoredSize   int64
	Uncompressed bool
}

// Blocks returns the blocks of the regular file e as the image stores them, read from its block
// list as they are asked for: a caller can compare two images' files by their stored bytes
// without decoding them (as archive/zip's OpenRaw allows). Consecutive sparse blocks come as one
// run. The sequence stops at the first error.
func (r *Reader) Blocks(e *Entry) iter.Seq2[Block, error] {
	return func(yield func(Block, error) bool) {
		if !e.Mode.IsRegular() {
			yield(Block{}, fmt.Errorf("squash: %s: not a regular file", e.Name))
			return
		}
		l, err := r.blockList(e)
		if err != nil {
			yield(Block{}, err)
			return
		}
		bs := int64(r.bs)
		var run Block // a sparse run not yet yielded
		for i := int64(0); ; i++ {
			w, at, err := l.next()
			if err == errBlockListEnd {
				break
			}
			if err != nil {
				yield(Block{}, err)
				return
			}
			b := Block{Offset: i * bs, Size: min(bs, e.Size-i*bs), ImageOffset: at}
			if w == 0 {
				if run.Sparse {
					run.Size += b.Size
				} else {
					run = Block{Offset: b.Offset, Size: b.Size, Sparse: true}
				}
				continue
			}
			if run.Sparse {
				if !yield(run, nil) {
					return
				}
				run = Block{}
			}
			b.StoredSize, b.Uncompressed = int64(w&^dataUncompressed), w&dataUncompressed != 0
			if !yield(b, nil) {
				return
			}
		}
		if run.Sparse && !yield(run, nil) {
			return
		}
		if e.fragment == noFragment {
			return
		}
		start, w, err := r.fragmentEntry(e.fragment)
		if err != nil {
			yield(Block{}, fmt.Errorf("squash: %s: %w", e.Name, err))
			return
		}
		off := int64(e.nblocks) * bs
		yield(Block{Offset: off, Size: e.Size - off, Tail: true, ImageOffset: start,
			StoredSize: int64(w &^ dataUncompressed), Uncompressed: w&dataUncompressed != 0}, nil)
	}
}

// Storage is how a regular file is stored: where its contents are, and the bytes of the image
// they take.
type Storage struct {
	// Blocks, Sparse and Tail are the bytes of contents in data blocks, in sparse blocks
	// (zeros the image does not store) and in a fragment block; they add up to the size.
	Blocks, Sparse, Tail int64
	// Stored is the bytes the file's data blocks take in the image. TailStored is its tail's
	// share of its fragment block's: the bytes the block takes in the image, times Tail, over
	// the bytes the block holds (rounded).
	Stored, TailStored int64
}

// Storage says how the regular file e is stored. Files of the same DataID share their storage:
// a caller adding up the image's bytes counts each DataID once.
func (r *Reader) Storage(e *Entry) (Storage, error) {
	var s Storage
	for b, err := range r.Blocks(e) {
		if err != nil {
			return Storage{}, err
		}
		switch {
		case b.Sparse:
			s.Sparse += b.Size
		case b.Tail:
			s.Tail = b.Size
			holds, err := r.fragmentHolds(e.fragment, b)
			if err != nil {
				return Storage{}, fmt.Errorf("squash: %s: %w", e.Name, err)
			}
			// The tail lies within the block: Reader.inode checked it against the block
			// size, and holds is at least its end.
			holds = max(holds, int64(e.fragOff)+b.Size)
			s.TailStored = (b.StoredSize*b.Size + holds/2) / holds
		default:
			s.Blocks += b.Size
			s.Stored += b.StoredSize
		}
	}
	return s, nil
}

// A DataID identifies where a regular file's contents are stored in its image: files of an
// image with the same DataID have the same contents (their data is stored once, or their
// contents are all sparse). Files of equal contents stored twice have different DataIDs. The
// zero DataID is that of empty files.
type DataID struct {
	size     int64
	start    uint64 // of the first stored block; 0 when none is stored
	fragment uint32
	fragOff  uint32
	list     [sha256.Size]byte // the block list's size words
}

// DataID returns the identity of the regular file e's stored data, read from its block list.
func (r *Reader) DataID(e *Entry) (DataID, error) {
	if !e.Mode.IsRegular() {
		return DataID{}, fmt.Errorf("squash: %s: not a regular file", e.Name)
	}
	if e.Size == 0 {
		return DataID{}, nil
	}
	id := DataID{size: e.Size, fragment: e.fragment, fragOff: e.fragOff}
	l, err := r.blockList(e)
	if err != nil {
		return DataID{}, err
	}
	h := sha256.New()
	var word [4]byte
	for {
		w, _, err := l.next()
		if err == errBlockListEnd {
			break
		}
		if err != nil {
			return DataID{}, err
		}
		if w != 0 {
			id.start = e.start
		}
		binary.LittleEndian.PutUint32(word[:], w)
		h.Write(word[:])
	}
	h.Sum(id.list[:0])
	return id, nil
}

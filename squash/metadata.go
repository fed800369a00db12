package squash

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
)

// This file reads metadata blocks, the units of 8 KiB (each compressed on its own) of the inode,
// directory and lookup tables, one at a time or as a stream across them (metaReader), and keeps
// the recent ones in a small cache (lru).

// metaBlock is a decoded metadata block and the offset of the block after it.
type metaBlock struct {
	data []byte
	next int64
}

// metaBlockAt reads and decodes the metadata block at pos, which must lie within lo..hi.
func (r *Reader) metaBlockAt(pos, lo, hi int64) (metaBlock, error) {
	if pos < lo || pos+metadataHeaderSize > hi {
		return metaBlock{}, fmt.Errorf("metadata block at %d outside its table %d..%d", pos, lo, hi)
	}
	mb, err := r.meta.get(pos, func() (metaBlock, error) { return r.readMetaBlock(pos) })
	if err != nil {
		return metaBlock{}, err
	}
	if mb.next > hi {
		return metaBlock{}, fmt.Errorf("metadata block at %d ends beyond its table %d..%d", pos, lo, hi)
	}
	return mb, nil
}

// readMetaBlock reads and decodes the metadata block at pos.
func (r *Reader) readMetaBlock(pos int64) (metaBlock, error) {
	var h [metadataHeaderSize]byte
	if _, err := r.ra.ReadAt(h[:], pos); err != nil {
		return metaBlock{}, fmt.Errorf("metadata block at %d: %w", pos, err)
	}
	word := binary.LittleEndian.Uint16(h[:])
	n := int64(word &^ metadataUncompressed)
	start := pos + metadataHeaderSize
	if n == 0 || n > metadataSize || start+n > r.size {
		return metaBlock{}, fmt.Errorf("metadata block at %d: length %d out of bounds", pos, n)
	}
	raw := make([]byte, n)
	if _, err := r.ra.ReadAt(raw, start); err != nil {
		return metaBlock{}, fmt.Errorf("metadata block at %d: %w", pos, err)
	}
	if word&metadataUncompressed != 0 {
		if err := r.chargeMetadata(n); err != nil {
			return metaBlock{}, err
		}
		return metaBlock{data: raw, next: start + n}, nil
	}
	out := make([]byte, metadataSize)
	k, err := r.dec.decode(out, raw)
	if err != nil {
		return metaBlock{}, fmt.Errorf("metadata block at %d: %w", pos, err)
	}
	if k == 0 {
		return metaBlock{}, fmt.Errorf("metadata block at %d decodes to nothing", pos)
	}
	if err := r.chargeMetadata(int64(k)); err != nil {
		return metaBlock{}, err
	}
	return metaBlock{data: out[:k:k], next: start + n}, nil
}

// metaReader reads a stream of metadata blocks of one table, from a position in it.
type metaReader struct {
	r      *Reader
	lo, hi int64 // the table
	block  int64 // image offset of the current block
	off    int   // in its decoded bytes
	cur    *metaBlock
}

func (r *Reader) newMetaReader(lo, hi int64, block uint64, off int) (*metaReader, error) {
	if block > uint64(hi-lo) {
		return nil, fmt.Errorf("metadata reference %d beyond its table", block)
	}
	return &metaReader{r: r, lo: lo, hi: hi, block: lo + int64(block), off: off}, nil
}

// pos returns the position of the next byte: the table offset of its block, and the offset in
// that block.
func (m *metaReader) pos() (uint64, int) { return uint64(m.block - m.lo), m.off }

func (m *metaReader) read(p []byte) error {
	// What is read counts, cached or not: walking a block list held in the cache a thousand
	// times is work too.
	if err := m.r.chargeMetadata(int64(len(p))); err != nil {
		return err
	}
	for len(p) > 0 {
		if m.cur == nil {
			mb, err := m.r.metaBlockAt(m.block, m.lo, m.hi)
			if err != nil {
				return err
			}
			m.cur = &mb
		}
		if m.off >= len(m.cur.data) {
			return fmt.Errorf("offset %d beyond the %d bytes of the metadata block at %d", m.off, len(m.cur.data), m.block)
		}
		k := copy(p, m.cur.data[m.off:])
		p = p[k:]
		m.off += k
		if m.off == len(m.cur.data) {
			m.block, m.off, m.cur = m.cur.next, 0, nil
		}
	}
	return nil
}

// readN reads n bytes, in steps, so that a length read from the image allocates only as much as
// the table really holds.
func (m *metaReader) readN(n uint64) ([]byte, error) {
	var b []byte
	for n > 0 {
		k := min(n, metadataSize)
		l := len(b)
		b = append(b, make([]byte, k)...)
		if err := m.read(b[l:]); err != nil {
			return nil, err
		}
		n -= k
	}
	return b, nil
}

// lru is a small cache of values by key that loads each value once: callers asking for a value
// being loaded wait for it. It holds at most max values, dropping the least recently used.
type lru[K comparable, V any] struct {
	mu    sync.Mutex
	max   int
	items map[K]*lruItem[V]
	order []K // least recently used first
}

type lruItem[V any] struct {
	done chan struct{}
	val  V
	err  error
}

func (c *lru[K, V]) get(k K, load func() (V, error)) (V, error) {
	c.mu.Lock()
	if c.items == nil {
		c.items = map[K]*lruItem[V]{}
	}
	if it, ok := c.items[k]; ok {
		c.touch(k)
		c.mu.Unlock()
		<-it.done
		return it.val, it.err
	}
	it := &lruItem[V]{done: make(chan struct{})}
	c.items[k] = it
	c.order = append(c.order, k)
	if len(c.order) > c.max {
		delete(c.items, c.order[0])
		c.order = c.order[1:]
	}
	c.mu.Unlock()

	it.val, it.err = load()
	close(it.done)
	if it.err != nil {
		c.mu.Lock()
		if c.items[k] == it {
			delete(c.items, k)
			c.order = slices.DeleteFunc(c.order, func(o K) bool { return o == k })
		}
		c.mu.Unlock()
	}
	return it.val, it.err
}

func (c *lru[K, V]) touch(k K) {
	i := slices.Index(c.order, k)
	if i >= 0 && i < len(c.order)-1 {
		copy(c.order[i:], c.order[i+1:])
		c.order[len(c.order)-1] = k
	}
}

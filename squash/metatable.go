package squash

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sync"

	"github.com/gonixiso/gonixiso/internal/parallel"
)

// This file writes metadata tables: streams cut into metadataSize pieces, each compressed on its
// own behind a 2-byte header. A position in a table is the offset of a block's header from the
// table's start, and an offset in its decoded bytes.
//
// The inode and directory tables refer to each other by such positions: a listing names its
// entries' inodes by the offset of their block in the inode table, and a directory's inode names
// its listing by the offset of its block in the directory table. An offset is known only once
// every block before it is compressed, so the tables are laid out with those fields left as
// links (a table and a block index), and a block is filled in and compressed as soon as the
// offsets its links name are known: blocks whose links are known compress in parallel.
//
// Every link names a block at most as far as the one being written in the other table, so every
// block waits only for blocks finished before it, and compressing the blocks in the order they
// were finished never deadlocks. How many blocks wait at all is the layout's choice (tables.go).

// A link is a 4-byte field of a table that holds the offset of a block of another table.
type link struct {
	at    int64  // the field's offset in its table's decoded bytes
	table int    // the table it names
	block uint64 // the block's index in that table
}

// metaBlockJob is a finished block of a table, with the links that have bytes in it.
type metaBlockJob struct {
	table int
	index uint64
	data  []byte
	links []link
}

// metaWriter lays out one metadata table, handing each block to emit as it is finished.
type metaWriter struct {
	table int
	buf   []byte // the current block's bytes (fewer than metadataSize)
	total int64  // bytes written
	links []link // links with bytes in the current block or later
	emit  func(metaBlockJob) error
}

// block is the index of the current block, offset where the next byte goes in it.
func (m *metaWriter) block() uint64  { return uint64(m.total / metadataSize) }
func (m *metaWriter) offset() uint16 { return uint16(m.total % metadataSize) }

// write appends p, whose 4-byte fields at the offsets of links (relative to p) name blocks of
// other tables.
func (m *metaWriter) write(p []byte, links ...link) error {
	for _, l := range links {
		l.at += m.total
		m.links = append(m.links, l)
	}
	for len(p) > 0 {
		n := min(len(p), metadataSize-len(m.buf))
		m.buf = append(m.buf, p[:n]...)
		m.total += int64(n)
		p = p[n:]
		if len(m.buf) == metadataSize {
			if err := m.flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush emits the current block, if it holds anything.
func (m *metaWriter) flush() error {
	if len(m.buf) == 0 {
		return nil
	}
	start, end := m.total-int64(len(m.buf)), m.total
	j := metaBlockJob{table: m.table, index: uint64(start / metadataSize), data: m.buf}
	keep := m.links[:0]
	for _, l := range m.links {
		if l.at < end && l.at+4 > start {
			j.links = append(j.links, l)
		}
		if l.at+4 > end {
			keep = append(keep, l)
		}
	}
	m.links = keep
	m.buf = make([]byte, 0, metadataSize)
	return m.emit(j)
}

// tableSet compresses the blocks of tables that link to each other, in parallel, and collects
// each table's stored bytes and the offsets of its blocks.
type tableSet struct {
	comp    compressor
	mu      sync.Mutex
	changed chan struct{} // closed and replaced when a block's offset becomes known
	starts  [][]uint64    // by table: offsets of the blocks compressed so far, and of the next
	out     [][]byte      // by table: the stored blocks
	failed  context.CancelFunc
}

// writeLinkedTables runs layout, which writes the n tables through the metaWriters it is given,
// and compresses their blocks on workers. It returns each table's stored bytes and the offsets
// of its blocks (one more than the blocks: the last is the table's length).
func writeLinkedTables(ctx context.Context, comp compressor, workers, n int,
	layout func(tables []*metaWriter) error) (out [][]byte, starts [][]uint64, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &tableSet{comp: comp, changed: make(chan struct{}), starts: make([][]uint64, n), out: make([][]byte, n), failed: cancel}
	for i := range s.starts {
		s.starts[i] = []uint64{0}
	}
	err = parallel.Ordered(ctx, parallel.Options{Workers: workers},
		func(emit func(metaBlockJob) error) error {
			tables := make([]*metaWriter, n)
			for i := range tables {
				tables[i] = &metaWriter{table: i, buf: make([]byte, 0, metadataSize), emit: emit}
			}
			if err := layout(tables); err != nil {
				return err
			}
			for _, m := range tables {
				if err := m.flush(); err != nil {
					return err
				}
			}
			return nil
		},
		func(j metaBlockJob) (storedBlock, error) { return s.compress(ctx, j) },
		func(b storedBlock) error { s.add(b); return nil })
	if err != nil {
		return nil, nil, err
	}
	return s.out, s.starts, nil
}

// storedBlock is a block of a table as the image stores it: header and bytes.
type storedBlock struct {
	table int
	b     []byte
}

// compress fills in the block's links, waiting for the offsets they name, and compresses it.
func (s *tableSet) compress(ctx context.Context, j metaBlockJob) (storedBlock, error) {
	for _, l := range j.links {
		off, err := s.offset(ctx, l)
		if err != nil {
			return storedBlock{}, err
		}
		if off > math.MaxUint32 {
			s.failed()
			return storedBlock{}, fmt.Errorf("squash: a metadata table larger than 4 GiB")
		}
		var v [4]byte
		binary.LittleEndian.PutUint32(v[:], uint32(off))
		base := int64(j.index) * metadataSize
		for i := range v {
			if p := l.at + int64(i) - base; p >= 0 && p < int64(len(j.data)) {
				j.data[p] = v[i]
			}
		}
	}
	b, err := storeMeta(s.comp, j.data)
	if err != nil {
		s.failed()
		return storedBlock{}, err
	}
	return storedBlock{j.table, b}, nil
}

// storeMeta returns a metadata block as the image stores it: its header, then its bytes,
// compressed if that makes them smaller.
func storeMeta(comp compressor, b []byte) ([]byte, error) {
	out, ok, err := comp.compress(nil, b)
	if err != nil {
		return nil, fmt.Errorf("squash: compressing metadata: %w", err)
	}
	var hdr [metadataHeaderSize]byte
	if ok {
		putU16(hdr[:], uint16(len(out)))
	} else {
		putU16(hdr[:], uint16(len(b))|metadataUncompressed)
		out = b
	}
	return append(hdr[:], out...), nil
}

// offset waits until the offset of the block l names is known, and returns it.
func (s *tableSet) offset(ctx context.Context, l link) (uint64, error) {
	for {
		s.mu.Lock()
		st := s.starts[l.table]
		if l.block < uint64(len(st)) {
			off := st[l.block]
			s.mu.Unlock()
			return off, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		}
	}
}

// add appends a stored block to its table, in the order the blocks were finished, which is each
// table's order, and makes the offset of the table's next block known.
func (s *tableSet) add(b storedBlock) {
	t := b.table
	s.mu.Lock()
	s.out[t] = append(s.out[t], b.b...)
	s.starts[t] = append(s.starts[t], uint64(len(s.out[t])))
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

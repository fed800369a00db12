// Package squash writes SquashFS 4.0 images as the Linux kernel reads them, in parallel on every
// core and with bytes that do not depend on the number of workers.
//
// A Writer is used like archive/tar's: WriteHeader for each entry, Write for a regular file's
// contents, Close to write the tables. AddTree adds a directory tree from disk. The order in which
// entries are added is the order of their data in the image; directory listings are sorted.
//
// # How the work is split
//
// The caller's goroutine reads the files, hashes them and decides the whole layout of the data
// area: which bytes form each block, which tails are packed into which fragment block and where,
// which files are duplicates of earlier ones. Blocks then go through internal/parallel.Ordered:
// workers compress them, and one consumer writes them in the order the producer fixed. Since
// every decision was taken before the work was spread out, the image is byte-identical for 1, 2
// or 16 workers. Memory is bounded by the pipeline's window: a few blocks per worker.
//
// # Segments
//
// Flush ends a segment of the data area. A segment's own data depends on nothing but its
// entries: its files' blocks, their tails packed in its own fragment blocks (sorted by extension
// and length within a bounded window, so that similar contents compress together), and each
// contents once. In the image, a file whose contents are an earlier segment's file's shares that
// file's blocks instead of storing them again; its tail, less than a block, stays in the
// segment's fragment blocks, and a fragment block identical to an earlier segment's (a store
// path whose files repeat another's) is stored once too.
// A segment can be stored aside (Options.OnSegment, Segment.Pieces) and placed again by a later
// build with AddSegment, after any other segments, with the bytes adding its entries would give.
// gonixiso makes each store path a segment, which is what lets an incremental rebuild copy
// unchanged store paths instead of compressing them again, whatever else the closure holds,
// while large files found in several store paths are still stored once.
//
// # Reading
//
// A Reader reads images of any writer (gonixiso's, mksquashfs's, ...): Walk, Open and FS for
// the tree, Blocks, Storage and DataID for how a file is stored (the layout stays the
// package's), Check for the Linux kernel's rules. An image is untrusted input: the Reader holds
// nothing per block a file declares and bounds its work by Limits.
//
// # What is written
//
// Superblock, compressor options, data blocks and fragment blocks, inode table (basic inodes, and
// extended ones for files of 4 GiB or more, sparse files and large directories), directory table
// with directory indexes, fragment table and id table. All-zero blocks are sparse. Blocks that do
// not shrink are stored as they are. There are no xattrs, no export table and no hard links (each
// name gets its own inode; identical contents are stored once).
package squash

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gonixiso/gonixiso/internal/parallel"
)

// Options configure a Writer.
type Options struct {
	// BlockSize is the data block size: a power of two from 4 KiB to 1 MiB (default 1 MiB).
	BlockSize int
	// Compression chooses the compressor (default zstd at level 19, as NixOS).
	Compression Compression
	// Workers is the number of compressing goroutines (default GOMAXPROCS). The output does
	// not depend on it.
	Workers int
	// ModTime is the image's creation time in seconds since the epoch (SOURCE_DATE_EPOCH),
	// also given to directories made implicitly for entries whose parents were not added.
	ModTime int64
	// NoFragments stores the tail of every file as a short block of its own instead of packing
	// tails into shared fragment blocks.
	NoFragments bool
	// NoDedup stores every file's contents, even when identical to an earlier file's.
	NoDedup bool
	// OnSegment, if set, is called with each segment once its data is in the image: on the
	// writer's consumer goroutine, in segment order. It must not call the Writer.
	OnSegment func(*Segment) error
	// Context, if set, stops the writer when it is done: the methods then return its error.
	Context context.Context
}

// ErrWriteTooLong is returned when more bytes are written than a header's Size.
var ErrWriteTooLong = errors.New("squash: write too long")

// Writer writes a SquashFS image. Its methods must be called from one goroutine.
type Writer struct {
	out       io.WriteSeeker
	opts      Options
	comp      compressor
	workers   int
	blockSize int
	dataStart int64
	root      *node
	rootSet   bool
	closed    bool
	err       error // sticky

	// Producer state: the caller's goroutine.
	file       *fileState
	frag       []byte                       // the fragment block being packed, nil when none
	fragIdx    uint32                       // its index
	fragCount  uint32                       // fragment indexes handed out
	segDups    map[[sha256.Size]byte]*node  // first file of each contents in the segment
	shared     map[[sha256.Size]byte]*node  // first file of each contents with blocks, in the image
	frags      map[[sha256.Size]byte]uint32 // first fragment block of each contents, in the image
	seg        *Segment
	segNodes   []*node
	reuse      map[[sha256.Size]byte]reusable // files whose compressed blocks Reuse offered
	reuseFrags map[[sha256.Size]byte]reusable // and fragment blocks, by contents
	reuseParts map[string]reusable            // and files of unfinished segments, by name
	dec        decoder                        // to check blocks of reuseParts
	// The segment's tails waiting to be packed into fragment blocks, in a window of tailWindow
	// bytes (see packTails).
	tails     []pendingTail
	tailBytes []byte
	tailOf    map[*node]int // a pending tail's index in tails, by file

	// The pipeline.
	jobs    chan *job
	done    chan struct{}
	pipeErr error
	bufs    sync.Pool // block-sized buffers

	// Counters for progress reports (Stats), safe to read from any goroutine.
	bytesIn, bytesOut atomic.Int64
	bytesReused       atomic.Int64

	// Consumer state: the pipeline's goroutine until done is closed.
	pos       int64 // next data offset
	maxEnd    int64 // furthest byte written
	segStart  int64
	spliced   int64    // bytes of the segment's own data left out of the image (splices)
	splices   []splice // of the segment being written
	fragments []fragEntry
	segFrag   int     // the segment's first fragment block, in fragments
	segHead   *node   // the segment's first entry, once a job of the segment came
	segFiles  []*node // the segment's files that have blocks written, or another file's

	unfinished *Segment // what a failed writer's image holds of its last segment (Unfinished)
}

type fragEntry struct {
	start int64
	size  uint32 // with dataUncompressed
	self  int64  // offset in its segment's own data
	hash  [sha256.Size]byte
}

// A pendingTail is a file's tail waiting in the segment's window to be packed, with the files of
// the segment that have the same contents and so the same tail.
type pendingTail struct {
	n    *node
	data []byte // in tailBytes
	ext  string
	dups []*node
}

// tailWindow bounds the bytes of tails a segment holds back to sort them before packing: the
// window is at least this, or four blocks.
const tailWindow = 16 << 20

// fileState is the regular file being written.
type fileState struct {
	n       *node
	buf     []byte // the block being filled
	written int64
	hash    hash.Hash
	blocks  int // block jobs made
	// The file's first blocks wait here, up to lookahead bytes, until the file turns out not
	// to repeat an earlier one: a duplicate's blocks are then never compressed. Past that, the
	// file streams (and a duplicate's blocks are compressed, written and dropped).
	pending   []*job
	streaming bool
	// The file's blocks as an unfinished segment Reuse offered has them, by name, which
	// the workers take if they hold the same bytes; partAt is where the next one lies.
	part   *reusable
	partAt int64
}

// lookahead is how many bytes of a file wait for its duplicate check before being compressed.
const lookahead = 16 << 20

// minTailBlock is the shortest tail that goes in a block of its own when it cannot shrink (see
// finishFile): packed with others in a fragment block it would be stored as it is too, but as a
// block of the file it is shared with later segments that hold the same file, as fragment blocks
// are not (measured on the 2 GB corpus: 1.9 MB of gzipped files repeated across store paths,
// changelogs and copyrights of packages built from one source). Shorter tails stay in fragments:
// so few bytes can pass for flat whatever they hold, and their block size word would cost more.
const minTailBlock = 256

type jobKind uint8

const (
	jobBlock         jobKind = iota // a data block of a file
	jobFragment                     // a full fragment block
	jobShareFragment                // a fragment block identical to an earlier one
	jobDup                          // a file turned out identical to an earlier one of its segment
	jobShare                        // a file's blocks turned out identical to an earlier segment's file's
	jobSegment                      // the end of a segment
	jobRaw                          // a stored segment placed as it is
)

type job struct {
	kind      jobKind
	n         *node
	first     bool
	data      []byte
	frag      uint32
	hash      [sha256.Size]byte // jobFragment, jobShareFragment: the block's contents
	orig      *node
	origFrag  uint32 // jobShareFragment: the earlier block
	seg       *Segment
	nodes     []*node   // jobSegment, jobRaw: the segment's entries
	origs     []*node   // jobRaw: for each entry, the earlier segment's file whose blocks it shares, or nil
	runs      []run     // jobRaw: the stretches of the segment's data that are not placed (shared)
	fragOrigs []int64   // jobRaw: for each fragment block, the earlier block it is, or -1
	raw       io.Reader // jobRaw
	head      *node     // the first entry of the segment the job belongs to (nil for jobRaw)
	reused    bool      // jobBlock, jobFragment: out and size are the block as Reuse's segment stored it
	stored    bool      // jobBlock: a tail known not to shrink, stored as it is

	// jobBlock: the block as an unfinished segment stored it, and its size word, for the worker
	// to take if it decodes to data (reuseParts).
	was     []byte
	wasSize uint32

	// sparse is a block of zeros, not stored: sparseLen bytes of the file.
	sparse    bool
	sparseLen int

	// Results, from the worker.
	out  []byte // bytes to write
	size uint32 // on-disk size word
}

// NewWriter returns a Writer that writes an image to out, from its current offset 0 (the
// superblock is written last, with a seek to the start). out is typically an *os.File; if it has
// a Truncate method, stale bytes past the image's end are cut off at Close.
func NewWriter(out io.WriteSeeker, opts Options) (*Writer, error) {
	bs, err := opts.blockSize()
	if err != nil {
		return nil, err
	}
	opts.BlockSize = bs
	workers := opts.Workers
	if workers <= 0 {
		workers = parallelDefault()
	}
	comp, err := opts.Compression.resolve(bs, workers)
	if err != nil {
		return nil, err
	}
	w := &Writer{
		out:       out,
		opts:      opts,
		comp:      comp,
		workers:   workers,
		blockSize: bs,
		root: &node{hdr: Header{Name: ".", Mode: fs.ModeDir | 0o755, ModTime: opts.ModTime},
			children: map[string]*node{}, fragment: noFragment},
		shared: map[[sha256.Size]byte]*node{},
		frags:  map[[sha256.Size]byte]uint32{},
		jobs:   make(chan *job),
		done:   make(chan struct{}),
	}
	w.bufs.New = func() any { b := make([]byte, 0, bs); return &b }
	w.dataStart = superblockSize
	if o := comp.options(); o != nil {
		w.dataStart += metadataHeaderSize + int64(len(o))
	}
	if _, err := out.Seek(w.dataStart, io.SeekStart); err != nil {
		comp.close()
		return nil, fmt.Errorf("squash: %w", err)
	}
	w.pos, w.segStart, w.maxEnd = w.dataStart, w.dataStart, w.dataStart
	w.startSegment()
	go w.run(workers)
	return w, nil
}

func (w *Writer) run(workers int) {
	defer close(w.done)
	ctx := w.opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	w.pipeErr = parallel.Ordered(ctx, parallel.Options{Workers: workers},
		func(emit func(*job) error) error {
			for j := range w.jobs {
				if err := emit(j); err != nil {
					for range w.jobs { // unblock the producer, which will see done
					}
					return err
				}
			}
			return nil
		},
		w.work,
		w.consume)
}

// send hands a job to the pipeline; it fails once the pipeline has failed.
func (w *Writer) send(j *job) error {
	if len(w.segNodes) > 0 {
		j.head = w.segNodes[0]
	}
	select {
	case w.jobs <- j:
		return nil
	case <-w.done:
		if w.pipeErr != nil {
			return w.pipeErr
		}
		return errors.New("squash: writer pipeline stopped")
	}
}

// work compresses a block: runs on the workers.
func (w *Writer) work(j *job) (*job, error) {
	if j.kind != jobBlock && j.kind != jobFragment || j.sparse || j.reused {
		return j, nil
	}
	if j.was != nil && w.sameAsStored(j) {
		return j, nil
	}
	raw := func() { j.out, j.size = j.data, uint32(len(j.data))|dataUncompressed }
	if j.stored || w.comp.slow() && incompressible(j.data) {
		raw()
		return j, nil
	}
	dst := w.getBuf()
	out, ok, err := w.comp.compress(dst, j.data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", j.where(), err)
	}
	if !ok {
		w.putBuf(dst)
		raw()
		return j, nil
	}
	j.out, j.size = out, uint32(len(out))
	return j, nil
}

func (j *job) where() string {
	if j.n != nil {
		return j.n.path()
	}
	return fmt.Sprintf("fragment block %d", j.frag)
}

func (w *Writer) getBuf() []byte { return (*w.bufs.Get().(*[]byte))[:0] }
func (w *Writer) putBuf(b []byte) {
	if cap(b) >= w.blockSize {
		b = b[:0]
		w.bufs.Put(&b)
	}
}

// consume writes results in the producer's order: runs on the pipeline's goroutine.
func (w *Writer) consume(j *job) error {
	if w.segHead == nil {
		w.segHead = j.head
	}
	switch j.kind {
	case jobBlock:
		n := j.n
		if j.first {
			n.start, n.self = w.pos, w.selfPos()
			w.segFiles = append(w.segFiles, n)
		}
		if j.sparse {
			n.blocks = append(n.blocks, 0)
			n.sparse += int64(j.sparseLen)
		} else {
			if err := w.writeData(j.out); err != nil {
				return err
			}
			n.blocks = append(n.blocks, j.size)
		}
		w.release(j)
	case jobFragment:
		if uint32(len(w.fragments)) != j.frag {
			return fmt.Errorf("squash: internal error: fragment %d out of order", j.frag)
		}
		w.fragments = append(w.fragments, fragEntry{start: w.pos, size: j.size, self: w.selfPos(), hash: j.hash})
		if err := w.writeData(j.out); err != nil {
			return err
		}
		w.release(j)
	case jobShareFragment:
		// As for a file's blocks: the block stays in the segment's own data, and the image
		// has it once.
		if uint32(len(w.fragments)) != j.frag {
			return fmt.Errorf("squash: internal error: fragment %d out of order", j.frag)
		}
		o := w.fragments[j.origFrag]
		w.fragments = append(w.fragments, fragEntry{start: o.start, size: o.size, self: w.selfPos(), hash: j.hash})
		l := int64(o.size &^ dataUncompressed)
		w.splices = append(w.splices, splice{at: w.pos, src: o.start, n: l})
		w.spliced += l
	case jobDup:
		// The file repeats an earlier file of its segment: whatever was written of it goes,
		// and it has the earlier file's blocks (the producer gave it the tail).
		n, o := j.n, j.orig
		if err := w.unwrite(n); err != nil {
			return err
		}
		w.tookBlocks(n)
		n.start, n.blocks, n.sparse, n.self = o.start, o.blocks, o.sparse, o.self
	case jobShare:
		// The file's blocks repeat an earlier segment's file's: they stay in the segment's own
		// data, at this point, but the image has them once, there.
		n, o := j.n, j.orig
		if err := w.unwrite(n); err != nil {
			return err
		}
		w.tookBlocks(n)
		n.self = w.selfPos()
		if l := dataLength(o.blocks); l > 0 {
			w.splices = append(w.splices, splice{at: w.pos, src: o.start, n: l})
			w.spliced += l
		}
		n.start, n.blocks, n.sparse = o.start, o.blocks, o.sparse
	case jobSegment:
		seg := j.seg
		seg.Start, seg.End = w.segStart, w.pos
		seg.splices = w.splices
		seg.describe(j.nodes, w.fragments[seg.FragmentBase:])
		w.nextSegment()
		if w.opts.OnSegment != nil {
			if err := w.opts.OnSegment(seg); err != nil {
				return err
			}
		}
	case jobRaw:
		return w.placeSegment(j)
	}
	return nil
}

// tookBlocks notes that the file n takes another file's blocks (jobDup, jobShare): it is among
// the segment's files with blocks, unless its own first block already put it there.
func (w *Writer) tookBlocks(n *node) {
	if len(n.blocks) == 0 {
		w.segFiles = append(w.segFiles, n)
	}
}

// nextSegment starts the consumer's next segment where the data ends.
func (w *Writer) nextSegment() {
	w.segStart, w.spliced, w.splices = w.pos, 0, nil
	w.segFrag, w.segHead, w.segFiles = len(w.fragments), nil, nil
}

// selfPos is the offset of the next byte in the current segment's own data: on the consumer.
func (w *Writer) selfPos() int64 { return w.pos - w.segStart + w.spliced }

// unwrite drops whatever the consumer wrote of the file n's blocks, which the image has
// elsewhere: the next data goes where they began.
func (w *Writer) unwrite(n *node) error {
	if len(n.blocks) == 0 {
		return nil
	}
	w.pos = n.start
	if _, err := w.out.Seek(w.pos, io.SeekStart); err != nil {
		return fmt.Errorf("squash: %w", err)
	}
	return nil
}

// dataLength is the length on disk of blocks of the given size words.
func dataLength(blocks []uint32) int64 {
	var l int64
	for _, b := range blocks {
		l += int64(b &^ dataUncompressed)
	}
	return l
}

func (w *Writer) release(j *job) {
	if len(j.out) > 0 && (len(j.data) == 0 || &j.out[0] != &j.data[0]) {
		w.putBuf(j.out)
	}
	if j.data != nil {
		w.putBuf(j.data)
	}
	j.data, j.out = nil, nil
}

func (w *Writer) writeData(b []byte) error {
	if _, err := w.out.Write(b); err != nil {
		return fmt.Errorf("squash: writing data: %w", err)
	}
	w.bytesOut.Add(int64(len(b)))
	w.pos += int64(len(b))
	w.maxEnd = max(w.maxEnd, w.pos)
	return nil
}

// WriteHeader adds an entry. For a regular file, its Size bytes of contents follow with Write.
// Parent directories that were not added are made with mode 0755, owner 0 and the image's time.
func (w *Writer) WriteHeader(hdr *Header) error {
	if err := w.ready(); err != nil {
		return err
	}
	if err := w.finishFile(); err != nil {
		return w.fail(err)
	}
	n, err := w.addNode(hdr)
	if err != nil {
		return err // a bad header leaves the image as it was
	}
	w.segNodes = append(w.segNodes, n)
	if n.hdr.Mode.IsRegular() {
		w.file = &fileState{n: n, hash: sha256.New(), buf: w.getBuf()}
		if w.reuseParts != nil { // n.path() costs an allocation per file
			if r, ok := w.reuseParts[n.path()]; ok && r.size == n.hdr.Size {
				w.file.part, w.file.partAt = &r, r.off
			}
		}
	}
	return nil
}

func (w *Writer) ready() error {
	if w.err != nil {
		return w.err
	}
	if ctx := w.opts.Context; ctx != nil && ctx.Err() != nil {
		w.err = fmt.Errorf("squash: %w", context.Cause(ctx))
		return w.err
	}
	if w.closed {
		return errors.New("squash: writer is closed")
	}
	return nil
}

func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return err
}

// Write writes contents of the current regular file.
func (w *Writer) Write(p []byte) (int, error) {
	if err := w.ready(); err != nil {
		return 0, err
	}
	f := w.file
	if f == nil {
		return 0, errors.New("squash: Write without a regular file's header")
	}
	if int64(len(p)) > f.n.hdr.Size-f.written {
		return 0, fmt.Errorf("%w: %s: more than its %d bytes", ErrWriteTooLong, f.n.path(), f.n.hdr.Size)
	}
	written := 0
	for len(p) > 0 {
		k := min(len(p), w.blockSize-len(f.buf))
		f.buf = append(f.buf, p[:k]...)
		p = p[k:]
		written += k
		if len(f.buf) == w.blockSize {
			if err := w.flushBlock(f); err != nil {
				return written, w.fail(err)
			}
		}
	}
	return written, nil
}

// ReadFrom reads the current regular file's contents from r until EOF or Size bytes, straight
// into block buffers.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	if err := w.ready(); err != nil {
		return 0, err
	}
	f := w.file
	if f == nil {
		return 0, errors.New("squash: ReadFrom without a regular file's header")
	}
	var total int64
	holes := mayHaveHoles(r)
	for f.written+int64(len(f.buf)) < f.n.hdr.Size {
		if holes != nil && len(f.buf) == 0 && f.n.hdr.Size-f.written >= int64(w.blockSize) {
			hole, err := holes(int64(w.blockSize))
			if err != nil {
				return total, fmt.Errorf("squash: %s: %w", f.n.path(), err)
			}
			if hole {
				// A hole in the source: a sparse block, without reading it.
				total += int64(w.blockSize)
				if err := w.sparseBlock(f, w.blockSize); err != nil {
					return total, w.fail(err)
				}
				continue
			}
		}
		want := min(int64(w.blockSize-len(f.buf)), f.n.hdr.Size-f.written-int64(len(f.buf)))
		k, err := io.ReadFull(r, f.buf[len(f.buf):len(f.buf)+int(want)])
		f.buf = f.buf[:len(f.buf)+k]
		total += int64(k)
		if len(f.buf) == w.blockSize {
			if err := w.flushBlock(f); err != nil {
				return total, w.fail(err)
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return total, nil
		}
		if err != nil {
			return total, fmt.Errorf("squash: %s: %w", f.n.path(), err)
		}
	}
	// More than Size bytes available is an error, as a Write of them would be.
	var one [1]byte
	if k, _ := r.Read(one[:]); k > 0 {
		return total, fmt.Errorf("%w: %s: more than its %d bytes", ErrWriteTooLong, f.n.path(), f.n.hdr.Size)
	}
	return total, nil
}

// Each block of a file goes into its dedup hash as a record: recordZero alone for a block of
// zeros, recordData and the bytes otherwise. Whether zeros were read or skipped as a hole in the
// source, the hash and so the image are the same.
var (
	recordZero = []byte{0}
	recordData = []byte{1}
)

// flushBlock sends the file's full block to the pipeline: a sparse block if it is all zeros.
func (w *Writer) flushBlock(f *fileState) error {
	if err := w.ready(); err != nil {
		return err
	}
	if isZero(f.buf) {
		n := len(f.buf)
		f.buf = f.buf[:0]
		return w.sparseBlock(f, n)
	}
	f.hash.Write(recordData)
	f.hash.Write(f.buf)
	f.written += int64(len(f.buf))
	w.bytesIn.Add(int64(len(f.buf)))
	j := &job{kind: jobBlock, n: f.n, first: f.blocks == 0, data: f.buf}
	j.was, j.wasSize = w.partBlock(f, true)
	f.blocks++
	f.buf = w.getBuf()
	return w.queue(f, j)
}

// sparseBlock sends a block of n zero bytes of the file: nothing is stored for it.
func (w *Writer) sparseBlock(f *fileState, n int) error {
	if err := w.ready(); err != nil {
		return err
	}
	f.hash.Write(recordZero)
	f.written += int64(n)
	w.bytesIn.Add(int64(n))
	w.partBlock(f, false)
	j := &job{kind: jobBlock, n: f.n, first: f.blocks == 0, sparse: true, sparseLen: n}
	f.blocks++
	return w.queue(f, j)
}

// queue holds a file's block job back while it may still be a duplicate, or sends it.
func (w *Writer) queue(f *fileState, j *job) error {
	if f.streaming || w.opts.NoDedup {
		return w.send(j)
	}
	f.pending = append(f.pending, j)
	if len(f.pending)*w.blockSize <= lookahead {
		return nil
	}
	f.streaming = true
	return w.sendPending(f)
}

// sendPending sends the block jobs held back for the file.
func (w *Writer) sendPending(f *fileState) error {
	for i, j := range f.pending {
		if err := w.send(j); err != nil {
			f.pending = f.pending[i+1:]
			w.dropPending(f)
			return err
		}
	}
	f.pending = nil
	return nil
}

// dropPending forgets the block jobs held back for the file, which repeats an earlier one.
func (w *Writer) dropPending(f *fileState) {
	for _, j := range f.pending {
		if j.data != nil {
			w.putBuf(j.data)
		}
		if j.was != nil {
			w.putBuf(j.was)
		}
	}
	f.pending = nil
}

// finishFile ends the current regular file: checks its length, finds whether it repeats an
// earlier file, and places its tail.
func (w *Writer) finishFile() error {
	f := w.file
	if f == nil {
		return nil
	}
	w.file = nil
	n := f.n
	tail := f.buf
	defer func() {
		if tail != nil {
			w.putBuf(tail)
		}
	}()
	zeroTail := isZero(tail)
	if zeroTail {
		f.hash.Write(recordZero)
	} else {
		f.hash.Write(recordData)
		f.hash.Write(tail)
	}
	w.bytesIn.Add(int64(len(tail)))
	if got := f.written + int64(len(tail)); got != n.hdr.Size {
		return fmt.Errorf("squash: %s: %d bytes written, header says %d", n.path(), got, n.hdr.Size)
	}
	if n.hdr.Size == 0 {
		return nil
	}
	// A tail that cannot shrink goes in a block of its own, as with NoFragments: stored as it
	// is either way, it is then among the file's blocks, which later segments share.
	flatTail := !w.opts.NoFragments && !zeroTail && len(tail) >= minTailBlock && incompressible(tail)
	tailBlock := flatTail || w.opts.NoFragments && len(tail) > 0 && !zeroTail
	blocks := f.blocks
	if tailBlock {
		blocks++
	}
	shared := false
	if !w.opts.NoDedup {
		f.hash.Sum(n.hash[:0])
		if o := w.segDups[n.hash]; o != nil && o.hdr.Size == n.hdr.Size {
			// The same contents earlier in the segment: the file is that one's, blocks and
			// tail, and its own blocks are never compressed (or dropped once written).
			w.dropPending(f)
			w.sameTail(n, o)
			return w.send(&job{kind: jobDup, n: n, orig: o})
		}
		w.segDups[n.hash] = n
		if o := w.shared[n.hash]; blocks > 0 && o != nil && o.hdr.Size == n.hdr.Size {
			// The same contents in an earlier segment: the blocks are shared, which leaves
			// the segment's own data as it would be without that segment; a tail in a
			// fragment block is the segment's own.
			w.dropPending(f)
			if err := w.send(&job{kind: jobShare, n: n, orig: o}); err != nil {
				return err
			}
			shared = true
		} else if blocks > 0 && o == nil {
			w.shared[n.hash] = n
		}
	}
	if !shared {
		if !f.streaming {
			if err := w.reused(f); err != nil {
				return err
			}
		}
		// The held-back blocks go, and so does whatever comes next.
		f.streaming = true
		if err := w.sendPending(f); err != nil {
			return err
		}
	}
	switch {
	case len(tail) == 0:
		return nil
	case zeroTail:
		// An all-zero tail is a sparse block: nothing stored.
		if shared {
			return nil // the shared blocks have it
		}
		return w.sparseBlock(f, len(tail))
	case tailBlock:
		if shared {
			return nil // the shared blocks have it
		}
		j := &job{kind: jobBlock, n: n, first: f.blocks == 0, data: tail, stored: flatTail}
		f.blocks++
		tail = nil // the job has it
		return w.send(j)
	}
	return w.addTail(n, tail)
}

// sameTail gives the file n the tail of the earlier file o of its segment, packed or waiting.
func (w *Writer) sameTail(n, o *node) {
	if i, ok := w.tailOf[o]; ok {
		w.tails[i].dups = append(w.tails[i].dups, n)
		return
	}
	n.fragment, n.fragOff = o.fragment, o.fragOff
}

// addTail puts the file's tail in the segment's window, which is packed when full.
func (w *Writer) addTail(n *node, tail []byte) error {
	limit := max(tailWindow, 4*w.blockSize)
	if len(w.tailBytes)+len(tail) > limit {
		if err := w.packTails(); err != nil {
			return fmt.Errorf("squash: %s: %w", n.path(), err)
		}
	}
	if w.tailBytes == nil {
		w.tailBytes = make([]byte, 0, limit)
		w.tailOf = map[*node]int{}
	}
	start := len(w.tailBytes)
	w.tailBytes = append(w.tailBytes, tail...)
	w.tailOf[n] = len(w.tails)
	w.tails = append(w.tails, pendingTail{n: n, data: w.tailBytes[start:len(w.tailBytes):len(w.tailBytes)], ext: extension(n.name)})
	return nil
}

// packTails packs the window's tails into fragment blocks, sorted by the file's extension and
// then the tail's length (a stable sort: equal keys keep the order of the files), so that
// similar contents share a block and compress together.
func (w *Writer) packTails() error {
	ts := w.tails
	sort.SliceStable(ts, func(i, j int) bool {
		if ts[i].ext != ts[j].ext {
			return ts[i].ext < ts[j].ext
		}
		return len(ts[i].data) < len(ts[j].data)
	})
	for _, t := range ts {
		idx, off, err := w.addFragment(t.data)
		if err != nil {
			return err
		}
		t.n.fragment, t.n.fragOff = idx, off
		for _, d := range t.dups {
			d.fragment, d.fragOff = idx, off
		}
	}
	clear(w.tails)
	w.tails, w.tailBytes = w.tails[:0], w.tailBytes[:0]
	clear(w.tailOf)
	return nil
}

// extension is a file name's extension, from its last dot ("" for none, or a leading dot
// only): the tails' sort key.
func extension(name string) string {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return name[i:]
	}
	return ""
}

// addFragment packs a tail into the current fragment block, starting a new one when it does
// not fit, and returns where it went.
func (w *Writer) addFragment(tail []byte) (uint32, uint32, error) {
	if w.frag != nil && len(w.frag)+len(tail) > w.blockSize {
		if err := w.flushFragment(); err != nil {
			return 0, 0, err
		}
	}
	if w.frag == nil {
		if w.fragCount == maxFragmentEntries {
			return 0, 0, errors.New("too many fragment blocks")
		}
		w.frag = w.getBuf()
		w.fragIdx = w.fragCount
		w.fragCount++
	}
	off := uint32(len(w.frag))
	w.frag = append(w.frag, tail...)
	return w.fragIdx, off, nil
}

func (w *Writer) flushFragment() error {
	if w.frag == nil {
		return nil
	}
	j := &job{kind: jobFragment, frag: w.fragIdx, data: w.frag}
	w.frag = nil
	if !w.opts.NoDedup {
		// A fragment block identical to an earlier one (the tails of a store path whose
		// files repeat another's) is shared: never compressed, stored once.
		j.hash = sha256.Sum256(j.data)
		if o, ok := w.frags[j.hash]; ok {
			w.putBuf(j.data)
			j.data = nil
			j.kind, j.origFrag = jobShareFragment, o
		} else {
			w.frags[j.hash] = j.frag
			if err := w.reusedFragment(j); err != nil {
				return err
			}
		}
	}
	return w.send(j)
}

// Flush ends the current segment of the data area (see the package documentation): the file
// being written is finished, the fragment block being packed is written, and later files do not
// share fragment blocks with earlier ones. An empty segment is not counted.
func (w *Writer) Flush() error {
	if err := w.ready(); err != nil {
		return err
	}
	return w.fail(w.endSegment())
}

func (w *Writer) startSegment() {
	w.seg = &Segment{FragmentBase: w.fragCount}
	w.segNodes = nil
	w.segDups = map[[sha256.Size]byte]*node{}
	w.reuse, w.reuseFrags, w.reuseParts = nil, nil, nil
}

func (w *Writer) endSegment() error {
	if err := w.finishFile(); err != nil {
		return err
	}
	if err := w.packTails(); err != nil {
		return err
	}
	if err := w.flushFragment(); err != nil {
		return err
	}
	w.reuse, w.reuseFrags, w.reuseParts = nil, nil, nil
	if len(w.segNodes) == 0 && w.fragCount == w.seg.FragmentBase {
		return nil
	}
	if err := w.send(&job{kind: jobSegment, seg: w.seg, nodes: w.segNodes}); err != nil {
		return err
	}
	w.startSegment()
	return nil
}

// AddTree adds the directory tree at dir under name (the root for "." or ""), in sorted order:
// a directory, then its entries by name, recursively, as NAR and mksquashfs walk a tree. Modes,
// times, owners, symlink targets and device numbers come from the files; fix, if not nil, may
// change each header first (for example AllRoot), or stop the walk with an error. tee, if not
// nil, sees each entry and its contents as they are read.
func (w *Writer) AddTree(name, dir string, fix func(*Header) error, tee Tee) error {
	if err := w.ready(); err != nil {
		return err
	}
	return w.addTree(name, "", dir, fix, tee)
}

// A Tee sees a tree as the Writer reads it from disk, so that the caller can do something
// else with the same reads (serialise and hash it as a NAR, say) instead of reading it again.
// Entry is called for each entry in the walk's order with its path below the tree's root (""
// for the root itself, else "a/b"), its FileInfo and a symlink's target; a regular file's
// contents are then written to the Tee as they are read, all of them: with a Tee, holes in a
// sparse file are read as zeros. An error from the Tee stops the walk.
type Tee interface {
	Entry(rel string, fi fs.FileInfo, link string) error
	io.Writer
}

func (w *Writer) addTree(name, rel, p string, fix func(*Header) error, tee Tee) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("squash: %w", err)
	}
	hdr, err := headerFromFile(name, p, fi)
	if err != nil {
		return err
	}
	if tee != nil {
		if err := tee.Entry(rel, fi, hdr.Linkname); err != nil {
			return w.fail(fmt.Errorf("squash: %s: %w", p, err))
		}
	}
	if fix != nil {
		if err := fix(hdr); err != nil {
			return w.fail(err)
		}
	}
	if err := w.WriteHeader(hdr); err != nil {
		return fmt.Errorf("%w (from %s)", err, p)
	}
	switch {
	case fi.Mode().IsRegular():
		f, err := os.Open(p)
		if err != nil {
			return w.fail(fmt.Errorf("squash: %w", err))
		}
		var r io.Reader = f
		if tee != nil {
			r = io.TeeReader(f, tee)
		}
		n, err := w.ReadFrom(r)
		f.Close()
		if err != nil {
			return w.fail(fmt.Errorf("squash: %s: %w", p, err))
		}
		if n != hdr.Size {
			return w.fail(fmt.Errorf("squash: %s: read %d bytes, expected %d (did it change while being read?)", p, n, hdr.Size))
		}
	case fi.IsDir():
		entries, err := os.ReadDir(p) // sorted by name
		if err != nil {
			return w.fail(fmt.Errorf("squash: %w", err))
		}
		for _, e := range entries {
			child, childRel := e.Name(), e.Name()
			if name != "" && name != "." {
				child = name + "/" + child
			}
			if rel != "" {
				childRel = rel + "/" + childRel
			}
			if err := w.addTree(child, childRel, p+"/"+e.Name(), fix, tee); err != nil {
				return err
			}
		}
	}
	return nil
}

// Stats reports the bytes of file contents read so far and the bytes of data written to the
// image so far. It may be called from any goroutine, for progress reports.
func (w *Writer) Stats() (in, out int64) { return w.bytesIn.Load(), w.bytesOut.Load() }

// Close finishes the image: the last file, the last fragment block, then the inode, directory,
// fragment and id tables and the superblock. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return w.err
	}
	var err error
	if w.err == nil {
		err = w.endSegment()
	} else {
		err = w.err
	}
	w.closed = true
	close(w.jobs)
	<-w.done
	defer w.comp.close()
	defer w.releaseAll()
	if err == nil {
		err = w.pipeErr
	}
	if err != nil {
		w.err = err
		w.unfinished = w.describeUnfinished()
		return err
	}
	if err := w.writeTables(); err != nil {
		w.err = err
		return err
	}
	return nil
}

// Unfinished returns, once Close has failed, what the image holds of the segment the writer was
// writing (with Pieces, as for a segment): its first entry, which names it, without its data;
// then the files with blocks written, each with its whole blocks written so far (all of them, or
// the first ones of a file the writer was in the middle of, which has no contents hash), without
// its tail; and the fragment blocks written. A later writer with the same options takes them as
// stored (Reuse) when it writes the same files again, as a rerun after an interruption or a
// failure does, instead of compressing them again. It cannot be placed (AddSegment). Unfinished
// is nil when Close succeeded or nothing is to be had, as without duplicate detection.
func (w *Writer) Unfinished() *Segment { return w.unfinished }

// describeUnfinished describes the consumer's segment as far as it was written, once the
// pipeline has stopped: a file's blocks are all written once its last one is, or once it took
// another file's (jobDup, jobShare); its contents hash, once the producer finished it.
func (w *Writer) describeUnfinished() *Segment {
	if w.opts.NoDedup || w.segHead == nil {
		return nil
	}
	s := &Segment{Start: w.segStart, End: w.pos, FragmentBase: uint32(w.segFrag), Unfinished: true,
		splices: slices.Clone(w.splices)}
	head := SegmentEntry{Header: w.segHead.hdr, Fragment: noFragment}
	head.Name = w.segHead.path()
	s.Entries = append(s.Entries, head)
	for _, f := range w.fragments[w.segFrag:] {
		s.Fragments = append(s.Fragments, SegmentFragment{Offset: f.self, Size: f.size, Hash: f.hash})
	}
	bs := int64(w.blockSize)
	for _, n := range w.segFiles {
		// A file's blocks are written in order: those of a file written in part are the
		// first ones, described without its contents hash, which is not known.
		whole := n.hdr.Size / bs
		blocks := n.blocks[:min(int64(len(n.blocks)), whole)]
		if len(blocks) == 0 {
			continue
		}
		e := SegmentEntry{Header: n.hdr, Offset: n.self, Blocks: slices.Clone(blocks), Fragment: noFragment}
		if int64(len(blocks)) == whole {
			e.Hash = n.hash
		}
		e.Name = n.path()
		for _, b := range e.Blocks {
			if b == 0 {
				e.Sparse += bs
			}
		}
		s.Entries = append(s.Entries, e)
	}
	if len(s.Entries) == 1 && len(s.Fragments) == 0 {
		return nil
	}
	return s
}

// releaseAll drops what the writer holds for the image, the tree above all, once it is closed: a
// caller that keeps the Writer (for Stats) does not keep the image's inodes in memory.
func (w *Writer) releaseAll() {
	w.root, w.file, w.frag = nil, nil, nil
	w.segDups, w.shared, w.frags, w.tailOf = nil, nil, nil, nil
	w.seg, w.segNodes, w.tails, w.tailBytes = nil, nil, nil, nil
	w.reuse, w.reuseFrags, w.reuseParts = nil, nil, nil
	w.splices, w.fragments, w.segHead, w.segFiles = nil, nil, nil, nil
	w.bufs = sync.Pool{}
}

// isZero reports whether b holds only zero bytes.
func isZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

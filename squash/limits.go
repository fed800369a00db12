package squash

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// This file bounds the work a Reader does for its callers. A SquashFS image is compressed, and
// what it declares costs nothing to declare: 20 KB of zeros in an inode table declare a file of
// a terabyte, a megabyte of directory entries may name one inode a hundred thousand times, a
// fragment table may point thousands of entries at one block that decodes to a megabyte.
// Memory is bounded by the format (nothing is allocated per declared block); time is bounded
// by what the Reader decodes and reads out, which Limits caps.

// Limits bound the work a Reader does on an image, in all, for all its callers: past a limit its
// methods fail with an error wrapping ErrLimit, which names the path and the limit. A Reader
// always has limits: NewReader sets DefaultLimits of the image's size, SetLimits changes them.
type Limits struct {
	// Contents is the most bytes of file contents the Reader produces: the bytes of each data
	// or fragment block it decodes (each time it decodes it), and of each sparse block and
	// tail it reads out. Reading a file through once counts its size, and a little more for
	// the fragment block of its tail.
	Contents int64
	// Metadata is the most bytes of metadata the Reader decodes and reads (inodes, block
	// lists, directory listings, lookup tables): each metadata block counts its bytes each time
	// it is decoded, and each inode, block list or listing the bytes read of it, cached or not.
	Metadata int64
	// EntryBytes is the most bytes of directory entries the Reader reads from listings, each
	// time it reads a listing: an entry counts 256 bytes (entryCost) and its path's length, about
	// what the Entry that Walk or Lookup makes of it takes in memory.
	EntryBytes int64
}

// entryCost is what a directory entry counts against Limits.EntryBytes besides its path's
// length: an Entry's size, and the listing's record of it.
const entryCost = 256

// DefaultLimits are the limits of a Reader of an image of size bytes (NewReader sets them):
// room for what real files give, with the image's size as the measure. A NixOS store image
// holds about 3.5 times its size in contents, a few percent of it in metadata, and a directory
// entry per 2.5 KB: the defaults allow 32 times the image's size in contents (at least 1 GiB),
// 4 times in metadata (at least 256 MiB) and entries of a quarter of it (at least 32 MiB, about
// 100,000 entries). Reading a 64 MiB image to its limits takes seconds and some 100 MB.
func DefaultLimits(size int64) Limits {
	size = max(size, 0)
	return Limits{
		Contents:   max(1<<30, 32*size),
		Metadata:   max(256<<20, 4*size),
		EntryBytes: max(32<<20, size/4),
	}
}

// ErrLimit is wrapped by the errors of a Reader past one of its Limits.
var ErrLimit = errors.New("reader limit reached")

// SetLimits sets the Reader's limits; a field given as zero keeps its value. It does not reset
// what the Reader has counted so far. It must be called before the Reader is used
// concurrently.
func (r *Reader) SetLimits(l Limits) {
	if l.Contents > 0 {
		r.lim.Contents = l.Contents
	}
	if l.Metadata > 0 {
		r.lim.Metadata = l.Metadata
	}
	if l.EntryBytes > 0 {
		r.lim.EntryBytes = l.EntryBytes
	}
}

// Limits returns the Reader's limits.
func (r *Reader) Limits() Limits { return r.lim }

// counters are what a Reader has counted against its limits.
type counters struct {
	contents, metadata, entries atomic.Int64
}

// chargeContents counts n bytes of contents.
func (r *Reader) chargeContents(n int64) error {
	if r.used.contents.Add(n) > r.lim.Contents {
		return fmt.Errorf("%w: more than %d bytes of file contents read (Limits.Contents)", ErrLimit, r.lim.Contents)
	}
	return nil
}

// contentsLeft fails once the Reader has read its Limits' Contents: callers check it before
// they allocate room for contents they would not be let read.
func (r *Reader) contentsLeft() error {
	if r.used.contents.Load() >= r.lim.Contents {
		return fmt.Errorf("%w: %d bytes of file contents read (Limits.Contents)", ErrLimit, r.lim.Contents)
	}
	return nil
}

// metadataLeft fails once the Reader has read its Limits' Metadata.
func (r *Reader) metadataLeft() error {
	if r.used.metadata.Load() >= r.lim.Metadata {
		return fmt.Errorf("%w: %d bytes of metadata read (Limits.Metadata)", ErrLimit, r.lim.Metadata)
	}
	return nil
}

// chargeMetadata counts n bytes of metadata decoded or read.
func (r *Reader) chargeMetadata(n int64) error {
	if r.used.metadata.Add(n) > r.lim.Metadata {
		return fmt.Errorf("%w: more than %d bytes of metadata read (Limits.Metadata)", ErrLimit, r.lim.Metadata)
	}
	return nil
}

// chargeEntry counts a directory entry of a path of n bytes.
func (r *Reader) chargeEntry(n int) error {
	if r.used.entries.Add(int64(entryCost+n)) > r.lim.EntryBytes {
		return fmt.Errorf("%w: more than %d bytes of directory entries read (Limits.EntryBytes)", ErrLimit, r.lim.EntryBytes)
	}
	return nil
}

package liveiso

import (
	"fmt"

	"github.com/gonixiso/gonixiso/squash"
)

// This file says what each store path costs in the SquashFS: the compressed bytes of its data
// blocks, its share of fragment blocks and its share of the metadata tables (squash.Tally), and
// the image-wide parts that, with them, add up to the SquashFS's size.

// Cost bases: how exact the store paths' costs are.
const (
	// CostExact: every data block and fragment block of the image belongs to one store path, as
	// in gonixiso's images (a segment per store path), so the paths' data costs are what they
	// take; only metadata blocks holding several paths' records are split.
	CostExact = "exact"
	// CostEstimate: fragment blocks hold tails of several store paths, as mksquashfs packs
	// them, and their bytes are split by the tails' lengths.
	CostEstimate = "estimate"
)

// CostInfo is where a SquashFS's bytes go: the store paths' costs (StorePathInfo.Cost) and the
// image-wide parts, which add up to Total, the SquashFS file's size.
//
// How the bytes are apportioned: a store path is charged the data blocks of its files, as
// stored; its share of each fragment block its files' tails are in (the block's stored bytes
// split in proportion to each path's bytes of tails in it); and its share of the inode and
// directory tables: each metadata block's stored bytes (its header included) split in
// proportion to the decoded bytes of each path's records in it (its entries' inodes, with block
// lists; its directories' listings; its own entry in the root's listing). Shares are rounded by
// largest remainders, block by block, so that everything adds up exactly. Stored parts that
// files of several store paths share (data blocks, and in mksquashfs's images tails too) are
// charged to the path they lie with in the image (the path whose own data is next to them); the
// other paths' files are counted as duplicates. In gonixiso's images a file whose contents an
// earlier store path has shares its blocks, and its tail, under a block, is in its own path's
// fragment blocks (so that each store path's segment depends on nothing but the path), unless
// the whole fragment block is an earlier one's: a path whose files all repeat another's costs
// metadata only.
type CostInfo struct {
	// Basis is CostExact or CostEstimate; Why says why, for this image.
	Basis string `json:"basis"`
	Why   string `json:"why"`
	// StorePaths is the sum of the store paths' costs.
	StorePaths int64 `json:"store_paths"`
	// Registration is the registration file's cost (its data, its inode and its entry); Root is
	// the root directory's inode and its listing's headers.
	Registration int64 `json:"registration"`
	Root         int64 `json:"root"`
	// Superblock is the superblock and the compressor options.
	Superblock int64 `json:"superblock"`
	// Unreferenced is data no file refers to; Unattributed, metadata no entry's records take
	// (both 0 in a sound image).
	Unreferenced int64 `json:"unreferenced"`
	Unattributed int64 `json:"unattributed"`
	// Tables is the fragment, export, id and xattr tables, which no store path's cost includes.
	Tables int64 `json:"tables"`
	// Padding is the bytes of the SquashFS file after the image's BytesUsed (mksquashfs and
	// gonixiso pad it to 4 KiB).
	Padding int64 `json:"padding"`
	// Total is the sum of the above: the SquashFS file's size.
	Total int64 `json:"total"`
	// FragmentBlocks counts the fragment blocks holding files' tails; SharedFragmentBlocks
	// those holding tails of several store paths.
	FragmentBlocks       int `json:"fragment_blocks"`
	SharedFragmentBlocks int `json:"shared_fragment_blocks"`
	// SharedContents counts the contents stored once for files of several store paths.
	SharedContents int `json:"shared_contents"`
}

// costs apportions the SquashFS's bytes among the store paths (filling their Cost fields) and
// returns the image-wide parts. size is the SquashFS file's size.
func costs(r *squash.Reader, st *storeTree, paths []StorePathInfo, size int64) (*CostInfo, error) {
	c, owners, err := tallyStore(r, st, size)
	if err != nil {
		return nil, err
	}
	for i := range paths {
		o := owners[paths[i].Path[len(StoreDir)+1:]]
		paths[i].Cost, paths[i].CostData, paths[i].CostFragments = o.Total(), o.Data, o.Fragments
		paths[i].CostMetadata, paths[i].Duplicates = o.Metadata(), o.Duplicates
		paths[i].Stored, paths[i].Tails = o.Stored, o.Tails
	}
	return c, nil
}

// tallyStore apportions the SquashFS's bytes: the image-wide parts, and each store path's
// bytes by name. size is the SquashFS file's size.
func tallyStore(r *squash.Reader, st *storeTree, size int64) (*CostInfo, map[string]squash.OwnerUsage, error) {
	t := r.Tally()
	for _, e := range st.top {
		owner := ""
		if e.Name != "." {
			owner = "\x00" + e.Name // never a store path's name
		}
		if err := t.Add(owner, e); err != nil {
			return nil, nil, err
		}
	}
	for _, name := range st.names {
		for _, e := range st.paths[name] {
			if err := t.Add(name, e); err != nil {
				return nil, nil, err
			}
		}
	}
	u, err := t.Usage()
	if err != nil {
		return nil, nil, err
	}
	c := &CostInfo{
		Root: u.Owners[""].Total(), Registration: u.Owners["\x00"+RegistrationName].Total(), Superblock: u.Superblock,
		Unreferenced: u.Unreferenced, Unattributed: u.Metadata, Tables: u.Tables, Padding: size - u.Size,
		FragmentBlocks: u.FragmentBlocks, SharedFragmentBlocks: u.SharedFragmentBlocks, SharedContents: u.SharedData,
	}
	owners := make(map[string]squash.OwnerUsage, len(st.names))
	for _, name := range st.names {
		o := u.Owners[name]
		owners[name] = o
		c.StorePaths += o.Total()
	}
	c.Total = c.StorePaths + c.Registration + c.Root + c.Superblock + c.Unreferenced + c.Unattributed + c.Tables + c.Padding
	if c.Total != size {
		// Every byte is someone's (squash.Tally): this is a bug, not a property of the image.
		return nil, nil, fmt.Errorf("the costs add up to %d bytes, the SquashFS has %d", c.Total, size)
	}
	shared := ""
	if c.SharedContents > 0 {
		shared = fmt.Sprintf("; %d contents stored once for files of several store paths are charged to the path they lie with", c.SharedContents)
	}
	if c.SharedFragmentBlocks == 0 {
		c.Basis = CostExact
		c.Why = "every data and fragment block belongs to one store path (gonixiso writes a segment per store path)" +
			shared + "; metadata blocks holding several paths' records are split by their decoded bytes"
	} else {
		c.Basis = CostEstimate
		c.Why = fmt.Sprintf("%d of %d fragment blocks hold tails of several store paths (mksquashfs packs tails across paths), "+
			"split by the tails' lengths", c.SharedFragmentBlocks, c.FragmentBlocks) + shared +
			"; metadata blocks holding several paths' records are split by their decoded bytes"
	}
	return c, owners, nil
}

package gonixiso

import (
	"cmp"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/gonixiso/gonixiso/boot"
	"github.com/gonixiso/gonixiso/squash"
)

// PathCost is what a store path costs in the SquashFS: its data blocks as stored, its share of
// the fragment blocks its tails are in, and its share of the inode and directory tables, as
// `gonixiso inspect` counts them (squash.Tally). A store path whose files repeat an earlier
// path's costs little more than its metadata.
type PathCost struct {
	Path string
	Cost int64
	Size int64 // bytes of its files
}

// costliest is how many store paths the Result names by cost.
const costliest = 5

// storeCosts returns the n store paths that cost the most in the SquashFS img of size bytes,
// most first (equal costs by path): they tell where an image's bytes go.
func storeCosts(img io.ReaderAt, size int64, storeDir string, n int) ([]PathCost, error) {
	r, err := squash.NewReader(img, size)
	if err != nil {
		return nil, err
	}
	t := r.Tally()
	sizes := map[string]int64{}
	err = r.Walk(func(name string, e *squash.Entry) error {
		top, _, _ := strings.Cut(name, "/")
		switch {
		case name == ".":
			top = "" // the root's own
		case top == boot.RegistrationName:
			top = "\x00" // not a store path
		}
		if e.Mode.IsRegular() {
			sizes[top] += e.Size
		}
		return t.Add(top, e)
	})
	if err != nil {
		return nil, err
	}
	u, err := t.Usage()
	if err != nil {
		return nil, err
	}
	var out []PathCost
	for name, o := range u.Owners {
		if name == "" || name == "\x00" {
			continue
		}
		out = append(out, PathCost{Path: path.Join(storeDir, name), Cost: o.Total(), Size: sizes[name]})
	}
	slices.SortFunc(out, func(a, b PathCost) int { return cmp.Or(cmp.Compare(b.Cost, a.Cost), cmp.Compare(a.Path, b.Path)) })
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// tallyCosts fills the Result's Costliest from the SquashFS just written.
func (b *build) tallyCosts() error {
	costs, err := storeCosts(b.squashfs, b.res.SquashFSSize, b.store.Dir, costliest)
	if err != nil {
		return fmt.Errorf("reading back the SquashFS: %w", err)
	}
	b.res.Costliest = costs
	return nil
}

// waitCosts waits for the tally started after the SquashFS was written, if any, and returns its
// error.
func (b *build) waitCosts() error {
	if b.costs == nil {
		return nil
	}
	err := <-b.costs
	b.costs = nil
	return err
}

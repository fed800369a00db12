package closure

import (
	"errors"
	"fmt"
	"slices"
)

// A Walk hands out the store paths of a closure one at a time, for a caller that reads each
// path itself (through a Hasher, while it does something else with the same bytes) and reports
// what it found. Next always hands out the least store path, by name, of those found and not
// yet handed out: the roots first, then, once the hubs that refer to most of a closure (a
// system's sw and etc) have been read, the rest in sorted order. An image laid out in this
// order changes little when a few store paths change, and every source gives a closure the
// same order (Closure.WalkOrder).
type Walk struct {
	known *Closure // the closure when known beforehand (Closure.Walk), else nil
	store Store
	roots []string
	cands *Candidates
	queue []string // found, not yet handed out, sorted
	seen  map[string]bool
	out   int // handed out, not yet reported
	paths []Path
}

// NewWalk starts a walk of the closure of roots in store, whose references are found among
// the store directory's entries.
func NewWalk(roots []string, store Store) (*Walk, error) {
	store, err := store.clean()
	if err != nil {
		return nil, err
	}
	roots, err = checkRoots(roots, store)
	if err != nil {
		return nil, err
	}
	cands, err := readCandidates(store)
	if err != nil {
		return nil, fmt.Errorf("closure: %w", err)
	}
	return newWalk(roots, store, cands), nil
}

func newWalk(roots []string, store Store, cands *Candidates) *Walk {
	w := &Walk{store: store, roots: roots, cands: cands, queue: slices.Clone(roots), seen: map[string]bool{}}
	for _, r := range roots {
		w.seen[r] = true
	}
	return w
}

// Next returns the next store path to read. It returns false when none is left to hand out
// now: when every path handed out has been reported, the walk is complete.
func (w *Walk) Next() (string, bool) {
	if len(w.queue) == 0 {
		return "", false
	}
	p := w.queue[0]
	w.queue = w.queue[1:]
	w.out++
	return p, true
}

// Hasher returns a Hasher for one path's NAR, which finds references among the store's paths.
func (w *Walk) Hasher() *Hasher { return NewHasher(w.cands) }

// Report records what a path handed out by Next holds; paths are reported in the order they
// were handed out.
func (w *Walk) Report(p Path) {
	w.out--
	w.paths = append(w.paths, p)
	for _, r := range p.References {
		if !w.seen[r] {
			w.seen[r] = true
			i, _ := slices.BinarySearch(w.queue, r)
			w.queue = slices.Insert(w.queue, i, r)
		}
	}
}

// Closure returns the closure the walk found, once every path handed out has been reported
// and no more are left.
func (w *Walk) Closure() (*Closure, error) {
	if w.out != 0 || len(w.queue) != 0 {
		return nil, errors.New("closure: walk not finished")
	}
	if w.known != nil {
		return w.known, nil
	}
	return newClosure(w.store.Dir, w.roots, slices.Clone(w.paths), SourceScan)
}

// Walk returns a walk of a closure known beforehand: the order a scan's Walk of its roots
// would take, with each path's entry given by Known, so that one loop serves a known closure and
// a scan alike. Report each path with its Known entry.
func (c *Closure) Walk() *Walk {
	w := newWalk(c.Roots, Store{Dir: c.StoreDir}, nil)
	w.known = c
	return w
}

// Known returns the entry of the store path p when the walk's closure was known beforehand
// (Closure.Walk); false for a scan, which learns it by reading p (Hasher).
func (w *Walk) Known(p string) (Path, bool) {
	if w.known == nil {
		return Path{}, false
	}
	info, ok := w.known.Lookup(p)
	if !ok {
		return Path{}, false
	}
	return *info, true
}

// WalkOrder returns the closure's paths in the order a Walk from its roots hands them out when
// each path is reported before the next is handed out.
func (c *Closure) WalkOrder() []*Path {
	w := c.Walk()
	var out []*Path
	for {
		p, ok := w.Next()
		if !ok {
			return out
		}
		info, _ := c.Lookup(p) // a closure holds every reference (newClosure)
		out = append(out, info)
		w.Report(*info)
	}
}

// Order returns the closure's store paths in the order its Walk hands them out, which is the
// order they take in an image.
func (c *Closure) Order() []string {
	var paths []string
	w := c.Walk()
	for {
		p, ok := w.Next()
		if !ok {
			return paths
		}
		info, _ := w.Known(p)
		w.Report(info)
		paths = append(paths, p)
	}
}

// Package closure computes the store closure of a NixOS toplevel, the store paths an image must
// hold, with each path's NAR hash, NAR size and references, and writes it as Nix's registration
// (the `nix-path-registration` file that `nix-store --load-db` reads on the booted system).
//
// The closure comes from one of three sources, which agree:
//
//   - the Nix database, read directly, read-only (SourceDB);
//   - `nix path-info --json --recursive` (SourceCLI);
//   - with no Nix at all, a native walk that serialises every path as a NAR, hashes it and
//     scans the same bytes for the hash parts of the store's paths, as Nix does when it
//     registers a build's outputs (SourceScan).
//
// The native walk's Hasher is usable on its own: a caller that already reads a store path's
// files in NAR order feeds them to a nar.Writer writing into a Hasher, and gets the path's NAR
// hash, NAR size and references without reading anything twice.
package closure

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// Path is one store path of a closure.
type Path struct {
	Path    string // the store path
	NarHash Hash   // the SHA-256 of its NAR serialisation
	NarSize uint64 // the length of its NAR serialisation
	// References are the store paths its files mention, sorted; it may include itself.
	References []string
	// Deriver is the derivation that built it, when the source knows it ("" otherwise: the
	// native scan cannot know it). It is informative only: WriteRegistration leaves it out.
	Deriver string
}

// Closure is a set of store paths closed under references.
type Closure struct {
	StoreDir string
	Roots    []string // the paths whose closure this is, sorted
	Paths    []Path   // every path of the closure, sorted by Path
	Source   Source   // the source that answered
}

// Source is where a closure's paths, hashes and references come from.
type Source int

const (
	SourceAuto Source = iota // the first of DB, CLI and Scan that works
	SourceDB                 // the Nix database, read directly
	SourceCLI                // nix path-info --json --recursive
	SourceScan               // a native walk: NAR hashing and reference scanning in Go
	SourceInfo               // a file of path information (Options.InfoFile): a derivation's exportReferencesGraph
)

var sourceNames = [...]string{SourceAuto: "auto", SourceDB: "db", SourceCLI: "cli", SourceScan: "scan", SourceInfo: "info"}

func (s Source) String() string {
	if s < 0 || int(s) >= len(sourceNames) {
		return fmt.Sprintf("Source(%d)", int(s))
	}
	return sourceNames[s]
}

// ParseSource parses a source's name, as String writes it.
func ParseSource(name string) (Source, error) {
	for s, n := range sourceNames {
		if n == name {
			return Source(s), nil
		}
	}
	return 0, fmt.Errorf("closure: unknown source %q (want %s)", name, strings.Join(sourceNames[:], ", "))
}

// Options tune Compute.
type Options struct {
	// Store is the store the paths are read from: its directory, and its root on this
	// machine (the zero Store is the host's /nix/store).
	Store Store
	// Source picks the source; SourceAuto tries DB, then CLI, then Scan.
	Source Source
	// DBPath is the Nix database; "" means the store's (Store.DBPath).
	DBPath string
	// Jobs is the number of paths the native scan hashes at once; 0 means one per core.
	Jobs int
	// InfoFile is the file SourceInfo reads: the .attrs.json of a derivation whose
	// exportReferencesGraph.closure holds the roots (__structuredAttrs), or the output of
	// `nix path-info --json --recursive`.
	InfoFile string
}

// Compute returns the closure of roots, store paths of opts.Store by name (Store.Resolve turns
// a result link or a path inside a store path into one). More roots give the union of their closures,
// as isoImage.storeContents does.
func Compute(ctx context.Context, roots []string, opts Options) (*Closure, error) {
	store, err := opts.Store.clean()
	if err != nil {
		return nil, err
	}
	roots, err = checkRoots(roots, store)
	if err != nil {
		return nil, err
	}
	dbPath := opts.DBPath
	if dbPath == "" {
		dbPath = store.DBPath()
	}

	sources := []Source{opts.Source}
	if opts.Source == SourceAuto {
		sources = []Source{SourceDB, SourceCLI, SourceScan}
	}
	var errs []error
	for _, src := range sources {
		var paths []Path
		var err error
		switch src {
		case SourceDB:
			paths, err = fromDB(ctx, roots, dbPath)
		case SourceCLI:
			paths, err = fromCLI(ctx, roots, store)
		case SourceScan:
			paths, err = fromScan(ctx, roots, store, opts.Jobs)
		case SourceInfo:
			paths, err = fromInfo(roots, opts.InfoFile, store.Dir)
		default:
			return nil, fmt.Errorf("closure: unknown source %v", src)
		}
		if err == nil {
			var c *Closure
			if c, err = newClosure(store.Dir, roots, paths, src); err == nil {
				return c, nil
			}
		}
		if ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, fmt.Errorf("%v: %w", src, err))
	}
	if len(errs) == 1 {
		return nil, fmt.Errorf("closure: %w", errs[0])
	}
	return nil, fmt.Errorf("closure: no source answered:\n%w", errors.Join(errs...))
}

// checkRoots returns roots sorted, without duplicates, once each is a store path that exists.
func checkRoots(roots []string, store Store) ([]string, error) {
	if len(roots) == 0 {
		return nil, errors.New("closure: no roots")
	}
	roots = slices.Clone(roots)
	slices.Sort(roots)
	roots = slices.Compact(roots)
	for _, r := range roots {
		if err := CheckStorePath(r, store.Dir); err != nil {
			return nil, fmt.Errorf("closure: root %w", err)
		}
		if _, err := os.Lstat(store.Real(r)); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, fmt.Errorf("closure: root %s: %w", r, err)
		}
	}
	return roots, nil
}

// newClosure sorts paths and checks that they are a closure of roots: every path in the
// store, none twice, every root and every reference among them.
func newClosure(storeDir string, roots []string, paths []Path, src Source) (*Closure, error) {
	slices.SortFunc(paths, func(a, b Path) int { return strings.Compare(a.Path, b.Path) })
	index := make(map[string]bool, len(paths))
	for i := range paths {
		p := &paths[i]
		if err := CheckStorePath(p.Path, storeDir); err != nil {
			return nil, err
		}
		if index[p.Path] {
			return nil, fmt.Errorf("%s: listed twice", p.Path)
		}
		index[p.Path] = true
		slices.Sort(p.References)
		p.References = slices.Compact(p.References)
	}
	for _, r := range roots {
		if !index[r] {
			return nil, fmt.Errorf("%s: root missing from its closure", r)
		}
	}
	for _, p := range paths {
		for _, r := range p.References {
			if !index[r] {
				return nil, fmt.Errorf("%s: reference %s missing from the closure", p.Path, r)
			}
		}
	}
	return &Closure{StoreDir: storeDir, Roots: roots, Paths: paths, Source: src}, nil
}

// Lookup returns the closure's entry for a store path.
func (c *Closure) Lookup(storePath string) (*Path, bool) {
	i, ok := slices.BinarySearchFunc(c.Paths, storePath, func(p Path, s string) int { return strings.Compare(p.Path, s) })
	if !ok {
		return nil, false
	}
	return &c.Paths[i], true
}

// NarSize returns the sum of the paths' NAR sizes (closureInfo's total-nar-size).
func (c *Closure) NarSize() uint64 {
	var n uint64
	for _, p := range c.Paths {
		n += p.NarSize
	}
	return n
}

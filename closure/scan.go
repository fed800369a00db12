package closure

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/gonixiso/gonixiso/closure/nar"
	"github.com/gonixiso/gonixiso/internal/parallel"
)

// Candidates are the store paths a reference scan looks for, by hash part.
type Candidates struct {
	byHash map[string]string // hash part → store path
}

// NewCandidates returns the candidates for a set of store paths. Of paths that share a hash
// part, the shortest (then the first in byte order) is the candidate: besides a path it builds,
// Nix leaves files named after it plus a suffix (.lock, .chroot, .check), and those are never
// what a reference means.
func NewCandidates(storePaths []string) (*Candidates, error) {
	sorted := slices.Clone(storePaths)
	slices.SortFunc(sorted, func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	})
	c := &Candidates{byHash: make(map[string]string, len(sorted))}
	for _, p := range sorted {
		base := p[strings.LastIndexByte(p, '/')+1:]
		if err := checkBaseName(base); err != nil {
			return nil, fmt.Errorf("closure: %s: %w", p, err)
		}
		if _, ok := c.byHash[base[:HashPartLen]]; !ok {
			c.byHash[base[:HashPartLen]] = p
		}
	}
	return c, nil
}

// ReadCandidates returns the candidates of a store: every entry of its directory whose name is
// a store path name.
func ReadCandidates(store Store) (*Candidates, error) {
	store, err := store.clean()
	if err != nil {
		return nil, err
	}
	c, err := readCandidates(store)
	if err != nil {
		return nil, fmt.Errorf("closure: %w", err)
	}
	return c, nil
}

// readCandidates lists a cleaned store's directory.
func readCandidates(store Store) (*Candidates, error) {
	d, err := os.Open(store.Real(store.Dir))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", store.Real(store.Dir), err)
	}
	var paths []string
	for _, n := range names {
		if checkBaseName(n) == nil {
			paths = append(paths, store.Dir+"/"+n)
		}
	}
	return NewCandidates(paths)
}

// Len returns the number of candidates.
func (c *Candidates) Len() int { return len(c.byHash) }

// isNix32 tells the bytes of Nix32Alphabet.
var isNix32 = func() (t [256]bool) {
	for i := range len(Nix32Alphabet) {
		t[Nix32Alphabet[i]] = true
	}
	return t
}()

// A refScanner finds the candidates whose hash parts occur in the bytes written to it, as
// Nix's RefScanSink does, hash parts split between writes included.
type refScanner struct {
	cands *Candidates
	found map[string]struct{}
	// tail holds the last HashPartLen bytes written; seam is scratch for the tail and the
	// start of the next write.
	tail    [HashPartLen]byte
	tailLen int
	seam    [2 * HashPartLen]byte
}

func (s *refScanner) write(data []byte) {
	// A hash part may span the previous write and this one: search the joint.
	head := min(len(data), HashPartLen)
	n := copy(s.seam[:], s.tail[:s.tailLen])
	n += copy(s.seam[n:], data[:head])
	s.search(s.seam[:n])
	s.search(data)
	// Keep the last HashPartLen bytes of everything written.
	if keep := HashPartLen - head; keep < s.tailLen {
		copy(s.tail[:], s.tail[s.tailLen-keep:s.tailLen])
		s.tailLen = keep
	}
	s.tailLen += copy(s.tail[s.tailLen:], data[len(data)-head:])
}

// search looks up every run of HashPartLen Nix32 characters in b. It checks a window from its
// end, so a byte outside the alphabet skips every window that holds it.
func (s *refScanner) search(b []byte) {
	i := 0
	for i+HashPartLen <= len(b) {
		j := HashPartLen - 1
		for j >= 0 && isNix32[b[i+j]] {
			j--
		}
		if j >= 0 {
			i += j + 1
			continue
		}
		// b[i:i+HashPartLen] is all Nix32; slide along the run one byte at a time.
		for {
			if p, ok := s.cands.byHash[string(b[i:i+HashPartLen])]; ok {
				if s.found == nil {
					s.found = make(map[string]struct{})
				}
				s.found[p] = struct{}{}
			}
			i++
			if i+HashPartLen > len(b) {
				return
			}
			if !isNix32[b[i+HashPartLen-1]] {
				i += HashPartLen
				break
			}
		}
	}
}

// A Hasher takes a store path's NAR serialisation, as a nar.Writer writes it, and gives the
// path's NAR hash, NAR size and references: the candidates whose hash parts occur anywhere in
// the NAR, as Nix finds a build output's references. Each byte is read once, for all three.
type Hasher struct {
	sha  hash.Hash
	size uint64
	refs refScanner
}

// NewHasher returns a Hasher that finds references among cands.
func NewHasher(cands *Candidates) *Hasher {
	return &Hasher{sha: sha256.New(), refs: refScanner{cands: cands}}
}

// Write adds NAR bytes. It never fails.
func (h *Hasher) Write(b []byte) (int, error) {
	h.sha.Write(b)
	h.size += uint64(len(b))
	h.refs.write(b)
	return len(b), nil
}

// Sum returns storePath's entry from the NAR written so far.
func (h *Hasher) Sum(storePath string) Path {
	p := Path{Path: storePath, NarSize: h.size}
	h.sha.Sum(p.NarHash[:0])
	for r := range h.refs.found {
		p.References = append(p.References, r)
	}
	slices.Sort(p.References)
	return p
}

// HashPath serialises the store path p of store as a NAR, reading each file once, and returns
// its NAR hash, NAR size and references among cands.
func HashPath(store Store, p string, cands *Candidates) (Path, error) {
	info, err := hashPath(store, p, cands)
	if err != nil {
		return Path{}, fmt.Errorf("closure: %w", err)
	}
	return info, nil
}

func hashPath(store Store, p string, cands *Candidates) (Path, error) {
	h := NewHasher(cands)
	if err := nar.DumpPath(h, store.Real(p)); err != nil {
		return Path{}, err
	}
	return h.Sum(p), nil
}

// fromScan computes the closure of roots natively: it hashes and scans the roots, then every
// path they refer to that it has not seen, on jobs workers (one per core for 0). The paths go
// to the workers as a Walk hands them out and are reported to it in the same order.
func fromScan(ctx context.Context, roots []string, store Store, jobs int) ([]Path, error) {
	cands, err := readCandidates(store)
	if err != nil {
		return nil, err
	}
	walk := newWalk(roots, store, cands)

	type result struct {
		path Path
		err  error
	}
	var (
		mu   sync.Mutex
		wake = sync.NewCond(&mu)
		stop bool // an error or a cancellation: hand out nothing more
	)
	stopWaiting := context.AfterFunc(ctx, func() {
		mu.Lock()
		stop = true
		wake.Broadcast()
		mu.Unlock()
	})
	defer stopWaiting()

	produce := func(emit func(string) error) error {
		for {
			mu.Lock()
			p, ok := walk.Next()
			for !ok && walk.out > 0 && !stop {
				wake.Wait()
				p, ok = walk.Next()
			}
			if stop || !ok {
				mu.Unlock()
				return nil
			}
			mu.Unlock()
			if err := emit(p); err != nil {
				return err
			}
		}
	}
	work := func(p string) (result, error) {
		info, err := hashPath(store, p, cands)
		return result{info, err}, nil
	}
	consume := func(r result) error {
		mu.Lock()
		defer mu.Unlock()
		defer wake.Broadcast()
		if r.err != nil {
			stop = true
			return r.err
		}
		walk.Report(r.path)
		return nil
	}
	if err := parallel.Ordered(ctx, parallel.Options{Workers: jobs}, produce, work, consume); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return walk.paths, nil
}

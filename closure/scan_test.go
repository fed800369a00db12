package closure_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// fakeStore is a store directory made for a test, with store paths named by letter.
type fakeStore struct {
	dir   string
	paths map[string]string // letter → store path
}

func newFakeStore(t *testing.T) *fakeStore {
	t.Helper()
	s := &fakeStore{dir: filepath.Join(t.TempDir(), "store"), paths: map[string]string{}}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Hash parts are Nix32 but otherwise arbitrary.
	for i, l := range []string{"a", "b", "c", "d", "e"} {
		h := strings.Repeat(string(closure.Nix32Alphabet[10+i]), 31) + "0"
		s.paths[l] = s.dir + "/" + h + "-" + l
	}
	return s
}

func (s *fakeStore) file(t *testing.T, p string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
}

// layout: a refers to b (in a file), to c (across the native scan's 256 KiB read buffers), to d
// (in a symlink's target) and to itself; b is a single file; c and d refer to nothing; e is
// in the store but unreferenced. Beside b lies b.lock, as Nix leaves one, and the store holds
// entries that are not store paths.
func (s *fakeStore) layout(t *testing.T) {
	t.Helper()
	a := s.paths["a"]
	s.file(t, a+"/bin/tool", []byte("#!/bin/sh\nexec "+s.paths["b"]+" \"$@\"\n# self: "+a+"/bin/tool\n"), 0o555)
	big := bytes.Repeat([]byte{0}, 3<<20)
	for _, off := range []int{256<<10 - 20, 1 << 20} {
		copy(big[off:], s.paths["c"])
	}
	s.file(t, a+"/lib/big.bin", big, 0o444)
	if err := os.Symlink(s.paths["d"]+"/share", a+"/share"); err != nil {
		t.Fatal(err)
	}
	s.file(t, s.paths["b"], []byte("no references here\n"), 0o555)
	s.file(t, s.paths["b"]+".lock", nil, 0o600)
	s.file(t, s.paths["c"]+"/data", []byte("c"), 0o444)
	s.file(t, s.paths["d"]+"/share/doc", []byte("d"), 0o444)
	s.file(t, s.paths["e"]+"/x", []byte(s.paths["a"]), 0o444) // refers to a; nothing refers to e
	s.file(t, s.dir+"/.links/whatever", []byte("x"), 0o444)
	s.file(t, s.dir+"/not-a-store-path", []byte("x"), 0o444)
}

// narHashOf is the reference: nix-store --dump's bytes hashed and counted.
func narHashOf(t *testing.T, p string) (closure.Hash, uint64) {
	t.Helper()
	testsystem.Require(t, "nix-store")
	out, err := exec.Command("nix-store", "--dump", p).Output()
	if err != nil {
		t.Fatalf("nix-store --dump %s: %v", p, err)
	}
	return sha256.Sum256(out), uint64(len(out))
}

func TestScanFakeStore(t *testing.T) {
	s := newFakeStore(t)
	s.layout(t)
	var results []*closure.Closure
	for _, jobs := range []int{1, 2, 5, 0} {
		c := compute(t, []string{s.paths["a"]}, closure.Options{Store: closure.Store{Dir: s.dir}, Source: closure.SourceScan, Jobs: jobs})
		results = append(results, c)
	}
	c := results[0]
	want := []string{s.paths["a"], s.paths["b"], s.paths["c"], s.paths["d"]}
	if got := pathNames(c.Paths); !slices.Equal(got, want) {
		t.Fatalf("closure\n%v\nwant\n%v", got, want)
	}
	if got, _ := c.Lookup(s.paths["a"]); !slices.Equal(got.References, want) {
		t.Errorf("references of a: %v, want %v", got.References, want)
	}
	for _, p := range c.Paths[1:] {
		if len(p.References) != 0 {
			t.Errorf("%s: references %v, want none", p.Path, p.References)
		}
	}
	for _, p := range c.Paths {
		h, n := narHashOf(t, p.Path)
		if p.NarHash != h || p.NarSize != n {
			t.Errorf("%s: NAR hash %v size %d, nix-store --dump gives %v size %d", p.Path, p.NarHash, p.NarSize, h, n)
		}
	}
	// Any number of workers gives the same closure.
	for _, r := range results[1:] {
		if !slices.EqualFunc(r.Paths, c.Paths, func(a, b closure.Path) bool {
			return a.Path == b.Path && a.NarHash == b.NarHash && a.NarSize == b.NarSize && slices.Equal(a.References, b.References)
		}) {
			t.Errorf("the scan's result depends on the number of workers")
		}
	}
	// e's closure holds a's.
	ce := compute(t, []string{s.paths["e"]}, closure.Options{Store: closure.Store{Dir: s.dir}, Source: closure.SourceScan})
	if got := pathNames(ce.Paths); !slices.Equal(got, append([]string{}, want[0], want[1], want[2], want[3], s.paths["e"])) {
		t.Errorf("closure of e: %v", got)
	}
}

func TestScanErrors(t *testing.T) {
	s := newFakeStore(t)
	s.layout(t)
	fifo := s.paths["d"] + "/share/fifo"
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := closure.Compute(context.Background(), []string{s.paths["a"]}, closure.Options{Store: closure.Store{Dir: s.dir}, Source: closure.SourceScan})
	if err == nil || !strings.Contains(err.Error(), fifo) {
		t.Errorf("a FIFO in the closure: %v, want an error naming %s", err, fifo)
	}
	// The same with every worker busy and the error late: no deadlock, the error comes back.
	_, err = closure.Compute(context.Background(), []string{s.paths["a"], s.paths["e"]}, closure.Options{Store: closure.Store{Dir: s.dir}, Source: closure.SourceScan, Jobs: 1})
	if err == nil || !strings.Contains(err.Error(), fifo) {
		t.Errorf("a FIFO in the closure, one worker: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := closure.Compute(ctx, []string{s.paths["c"]}, closure.Options{Store: closure.Store{Dir: s.dir}, Source: closure.SourceScan}); err == nil {
		t.Errorf("a cancelled scan succeeded")
	}
}

func TestComputeErrors(t *testing.T) {
	s := newFakeStore(t)
	s.layout(t)
	missing := s.dir + "/" + strings.Repeat("z", 32) + "-missing"
	for _, tc := range []struct {
		roots []string
		opts  closure.Options
		want  string
	}{
		{[]string{missing}, closure.Options{Store: closure.Store{Dir: s.dir}}, missing},
		{[]string{"/etc/passwd"}, closure.Options{Store: closure.Store{Dir: s.dir}}, "/etc/passwd"},
		{[]string{s.paths["a"] + "/bin/tool"}, closure.Options{Store: closure.Store{Dir: s.dir}}, "not directly in the store"},
		{[]string{s.dir + "/not-a-store-path"}, closure.Options{Store: closure.Store{Dir: s.dir}}, "not-a-store-path"},
		{nil, closure.Options{Store: closure.Store{Dir: s.dir}}, "no roots"},
		{[]string{s.paths["a"]}, closure.Options{Store: closure.Store{Dir: "relative/store"}}, "not absolute"},
		{[]string{s.paths["a"]}, closure.Options{Store: closure.Store{Dir: s.dir}, Source: closure.Source(9)}, "unknown source"},
	} {
		_, err := closure.Compute(context.Background(), tc.roots, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Compute(%v): %v, want an error containing %q", tc.roots, err, tc.want)
		}
	}
	// Auto on a store that neither the Nix database nor nix knows: the scan answers.
	c, err := closure.Compute(context.Background(), []string{s.paths["c"]}, closure.Options{Store: closure.Store{Dir: s.dir}, DBPath: s.dir + "/no-db"})
	if err != nil || c.Source != closure.SourceScan {
		t.Errorf("auto on a fake store: %v, %v; want the scan to answer", c, err)
	}
	// With the scan failing too, the error says why each source failed.
	fifo := s.paths["c"] + "/fifo"
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = closure.Compute(context.Background(), []string{s.paths["c"]}, closure.Options{Store: closure.Store{Dir: s.dir}, DBPath: s.dir + "/no-db"})
	for _, want := range []string{"no source answered", "db: nix database", "cli: nix path-info", "scan: ", fifo} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("auto with every source failing: %v, want %q in it", err, want)
		}
	}
}

func TestNewCandidates(t *testing.T) {
	h := strings.Repeat("a", 32)
	path := "/s/" + h + "-x"
	cands, err := closure.NewCandidates([]string{path + ".lock", path + ".check", path, path + ".chroot"})
	if err != nil || cands.Len() != 1 {
		t.Fatalf("a path and Nix's files beside it: %v, %d candidates", err, cands.Len())
	}
	hs := closure.NewHasher(cands)
	hs.Write([]byte(h))
	if got := hs.Sum("/s/y").References; !slices.Equal(got, []string{path}) {
		t.Errorf("a path and its lock file: the hash part means %v, want %s", got, path)
	}
	// Only leftovers: still one candidate, chosen the same way every time.
	cands, err = closure.NewCandidates([]string{path + ".lock", path + ".check"})
	if err != nil || cands.Len() != 1 {
		t.Errorf("leftovers only: %v, %d candidates", err, cands.Len())
	}
	if _, err := closure.NewCandidates([]string{"/s/" + h}); err == nil {
		t.Errorf("a store path without a name was accepted")
	}
}

// TestExtraPaths: more roots give the union of their closures, as isoImage.storeContents does;
// a root already in another's closure and a repeated root change nothing.
func TestExtraPaths(t *testing.T) {
	top := testsystem.Toplevel(t)
	testsystem.Require(t, "nix-store")
	extraFile := filepath.Join(t.TempDir(), "gonixiso-closure-extra")
	if err := os.WriteFile(extraFile, []byte("an extra store path for gonixiso's closure tests\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("nix-store", "--add", extraFile).Output()
	if err != nil {
		t.Fatalf("nix-store --add: %v", err)
	}
	extra := strings.TrimSpace(string(out))
	base := testsystem.Closure(t, top)
	inner := base[0]
	if inner == top {
		inner = base[1]
	}
	for _, src := range []closure.Source{closure.SourceDB, closure.SourceCLI, closure.SourceScan} {
		c := compute(t, []string{top, extra, top, inner}, closure.Options{Source: src})
		want := append(slices.Clone(base), extra)
		slices.Sort(want)
		if got := pathNames(c.Paths); !slices.Equal(got, want) {
			t.Errorf("%v: closure with an extra path\n%v\nwant\n%v", src, got, want)
		}
		wantRoots := []string{top, extra, inner}
		slices.Sort(wantRoots)
		if !slices.Equal(c.Roots, wantRoots) {
			t.Errorf("%v: roots %v, want %v", src, c.Roots, wantRoots)
		}
		if p, ok := c.Lookup(extra); !ok || len(p.References) != 0 {
			t.Errorf("%v: extra path %+v", src, p)
		}
	}
}

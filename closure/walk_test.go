package closure_test

import (
	"slices"
	"testing"

	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/closure/nar"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// walk reads the closure of roots one path at a time, as a caller that packs each path while it
// hashes it does, and returns the paths in the order handed out and the closure found.
func walk(t *testing.T, roots []string, storeDir string) ([]string, *closure.Closure) {
	t.Helper()
	w, err := closure.NewWalk(roots, closure.Store{Dir: storeDir})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for {
		p, ok := w.Next()
		if !ok {
			break
		}
		if _, err := w.Closure(); err == nil {
			t.Errorf("Closure before the walk ended (at %s) succeeded", p)
		}
		order = append(order, p)
		h := w.Hasher()
		if err := nar.DumpPath(h, p); err != nil {
			t.Fatal(err)
		}
		w.Report(h.Sum(p))
	}
	c, err := w.Closure()
	if err != nil {
		t.Fatal(err)
	}
	return order, c
}

func names(ps []*closure.Path) []string {
	var s []string
	for _, p := range ps {
		s = append(s, p.Path)
	}
	return s
}

// TestWalkFakeStore: a walk finds what the parallel scan finds, the least path found first,
// and WalkOrder gives a closure from any source that order.
func TestWalkFakeStore(t *testing.T) {
	s := newFakeStore(t)
	s.layout(t)
	order, c := walk(t, []string{s.paths["e"]}, s.dir)
	scan := compute(t, []string{s.paths["e"]}, closure.Options{Store: closure.Store{Dir: s.dir}, Source: closure.SourceScan})
	samePaths(t, "walk vs scan", c.Paths, scan.Paths)
	if c.Source != closure.SourceScan {
		t.Errorf("a walk's closure says it came from the %v", c.Source)
	}
	// e refers to a, which refers to b, c and d (sorted) and itself.
	want := []string{s.paths["e"], s.paths["a"], s.paths["b"], s.paths["c"], s.paths["d"]}
	if !slices.Equal(order, want) {
		t.Errorf("walk order\n%v\nwant\n%v", order, want)
	}
	if got := names(scan.WalkOrder()); !slices.Equal(got, want) {
		t.Errorf("WalkOrder\n%v\nwant\n%v", got, want)
	}
}

// TestWalkTestSystem: on the test system, the walk's closure is the database's, and the
// database's closure in WalkOrder is the walk's order, so an image laid out in that order does
// not depend on the closure's source.
func TestWalkTestSystem(t *testing.T) {
	top := testsystem.Toplevel(t)
	order, c := walk(t, []string{top}, closure.DefaultStoreDir)
	db := compute(t, []string{top}, closure.Options{Source: closure.SourceDB})
	samePaths(t, "walk vs db", c.Paths, db.Paths)
	if got := names(db.WalkOrder()); !slices.Equal(got, order) {
		t.Errorf("WalkOrder of the database's closure\n%v\nthe walk's order\n%v", got, order)
	}
	if order[0] != top {
		t.Errorf("the walk starts at %s, not the root", order[0])
	}
}

func TestWalkErrors(t *testing.T) {
	s := newFakeStore(t)
	s.layout(t)
	for _, roots := range [][]string{nil, {"/etc"}, {s.dir + "/00000000000000000000000000000000-gone"}} {
		if _, err := closure.NewWalk(roots, closure.Store{Dir: s.dir}); err == nil {
			t.Errorf("NewWalk(%q) succeeded", roots)
		}
	}
}

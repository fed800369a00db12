package cache_test

import (
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonixiso/gonixiso/cache"
)

// data is a file holding a few entries' bytes, as an image holds segments.
func data(t testing.TB, b string) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "data")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(b); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func read(t *testing.T, c *cache.Cache, k cache.Key) (string, string, bool) {
	t.Helper()
	e, ok := c.Get(k)
	if !ok {
		return "", "", false
	}
	defer e.Close()
	b, err := io.ReadAll(io.LimitReader(e.Data, e.Size))
	if err != nil {
		t.Fatal(err)
	}
	return string(e.Desc), string(b), true
}

func TestPutGet(t *testing.T) {
	var warned []string
	c, err := cache.Open(filepath.Join(t.TempDir(), "c"), func(f string, a ...any) { warned = append(warned, fmt.Sprintf(f, a...)) })
	if err != nil {
		t.Fatal(err)
	}
	img := data(t, "xxxxSEGMENTyyyy")
	k := cache.KeyOf("segment", "settings", "/nix/store/a", "sha256:...")
	if _, _, ok := read(t, c, k); ok {
		t.Fatal("an empty cache has an entry")
	}
	if err := c.Put(k, []byte("description"), img, []cache.Range{{Off: 4, N: 3}, {Off: 7, N: 4}}); err != nil {
		t.Fatal(err)
	}
	if d, b, ok := read(t, c, k); !ok || d != "description" || b != "SEGMENT" {
		t.Fatalf("Get = %q, %q, %v", d, b, ok)
	}
	// Keys are unambiguous: the same bytes split into other parts are another key.
	if cache.KeyOf("ab", "c") == cache.KeyOf("a", "bc") {
		t.Error("KeyOf(ab, c) == KeyOf(a, bc)")
	}

	// Notes go with an entry.
	nk := cache.KeyOf("note")
	if err := c.SetNote(nk, "sha256:abc", k); err != nil {
		t.Fatal(err)
	}
	if v, ok := c.Note(nk); !ok || v != "sha256:abc" {
		t.Errorf("Note = %q, %v", v, ok)
	}

	// A damaged entry is a miss, reported and removed.
	entries, _ := c.Entries()
	if len(entries) != 1 {
		t.Fatalf("%d entries", len(entries))
	}
	b, _ := os.ReadFile(entries[0].Path)
	b[len(b)-40] ^= 1
	os.WriteFile(entries[0].Path, b, 0o644)
	if _, _, ok := read(t, c, k); ok || len(warned) != 1 || !strings.Contains(warned[0], "checksum mismatch") {
		t.Errorf("damaged entry: ok %v, warnings %q", ok, warned)
	}
	if left, _ := c.Entries(); len(left) != 0 {
		t.Errorf("the damaged entry is still there")
	}
	// Its note goes at the next GC.
	if _, _, err := c.GC(1 << 30); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Note(nk); ok {
		t.Error("a note outlived its entry's GC")
	}
}

// TestGC evicts least recently used entries first, down to the size asked for, and removes
// what killed runs left.
func TestGC(t *testing.T) {
	dir := t.TempDir()
	c, _ := cache.Open(dir, nil)
	img := data(t, strings.Repeat("x", 1000))
	var keys []cache.Key
	for i := range 5 {
		k := cache.KeyOf(fmt.Sprint(i))
		if err := c.Put(k, nil, img, []cache.Range{{Off: 0, N: int64(100 * (i + 1))}}); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	entries, _ := c.Entries()
	for i, e := range entries {
		tm := time.Now().Add(time.Duration(i-len(entries)) * time.Minute)
		os.Chtimes(e.Path, tm, tm)
	}
	entries, _ = c.Entries() // oldest first
	stale := filepath.Join(filepath.Dir(entries[0].Path), ".x.entry.cache.1.gonixiso-tmp")
	os.WriteFile(stale, nil, 0o644)
	var total int64
	for _, e := range entries {
		total += e.Size
	}
	n, freed, err := c.GC(total - entries[0].Size - entries[1].Size)
	if err != nil || n != 2 || freed != entries[0].Size+entries[1].Size {
		t.Fatalf("GC removed %d entries, %d bytes, %v; want the 2 oldest", n, freed, err)
	}
	for i, e := range entries {
		if _, err := os.Stat(e.Path); os.IsNotExist(err) != (i < 2) {
			t.Errorf("entry %d: gone = %v", i, os.IsNotExist(err))
		}
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("a killed run's temporary file outlived GC")
	}
	if n, _, _ := c.GC(0); n != 3 {
		t.Errorf("GC(0) removed %d", n)
	}
}

// TestOpenCreatesNothing: opening, listing and collecting a cache that does not exist leave it
// so; Prepare makes it.
func TestOpenCreatesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "none")
	c, _ := cache.Open(dir, nil)
	if e, err := c.Entries(); err != nil || len(e) != 0 {
		t.Errorf("Entries = %v, %v", e, err)
	}
	c.GC(0)
	if _, ok := c.Get(cache.KeyOf("x")); ok {
		t.Error("Get found something")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s was made: %v", dir, err)
	}
	if err := c.Prepare(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Error(err)
	}
	blocked, _ := cache.Open(filepath.Join(dir, "v5", "x", "y"), nil)
	os.WriteFile(filepath.Join(dir, "v5", "x"), nil, 0o644)
	if err := blocked.Prepare(); err == nil {
		t.Error("Prepare under a file succeeded")
	}
}

// A segment stored by one build and given back to the next.
func Example() {
	dir, _ := os.MkdirTemp("", "cache-example")
	defer os.RemoveAll(dir)
	c, err := cache.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	image, _ := os.CreateTemp(dir, "image")
	image.WriteString("....compressed bytes of a store path....")
	k := cache.KeyOf("segment", "zstd 19, 1 MiB blocks", "/nix/store/…-hello-2.12", "sha256:…")
	if err := c.Put(k, []byte("its description"), image, []cache.Range{{Off: 4, N: 32}}); err != nil {
		log.Fatal(err)
	}
	e, ok := c.Get(k)
	if !ok {
		log.Fatal("not cached")
	}
	defer e.Close()
	b, _ := io.ReadAll(io.LimitReader(e.Data, e.Size))
	fmt.Printf("%s: %s\n", e.Desc, b)
	// Output: its description: compressed bytes of a store path
}

// TestExportImport: an entry exported to a file (a segment derivation's output) becomes another
// cache's entry by a link, and reads the same; a file that is no entry is refused, and a damaged
// one is a miss whose file is left alone.
func TestExportImport(t *testing.T) {
	a, err := cache.Open(filepath.Join(t.TempDir(), "a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	k := cache.KeyOf("segment", "x")
	if err := a.Put(k, []byte("desc"), data(t, "..DATA.."), []cache.Range{{Off: 2, N: 4}}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "segment")
	if err := a.Export(k, out); err != nil {
		t.Fatal(err)
	}
	if err := a.Export(cache.KeyOf("absent"), filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("exported an entry the cache does not have")
	}
	var warned []string
	b, _ := cache.Open(filepath.Join(t.TempDir(), "b"), func(f string, args ...any) { warned = append(warned, fmt.Sprintf(f, args...)) })
	got, err := b.Import(out)
	if err != nil || got != k {
		t.Fatalf("Import = %v, %v; want %v", got, err, k)
	}
	if d, s, ok := read(t, b, k); !ok || d != "desc" || s != "DATA" {
		t.Fatalf("the imported entry reads %q, %q, %v", d, s, ok)
	}
	junk := filepath.Join(t.TempDir(), "junk")
	os.WriteFile(junk, []byte("not an entry at all, but long enough to have a header's length............."), 0o644)
	if _, err := b.Import(junk); err == nil || !strings.Contains(err.Error(), junk) {
		t.Errorf("Import of a file that is no entry: %v", err)
	}
	// Damaged after the import: a miss, reported; the file itself is not the cache's to remove.
	os.Chmod(out, 0o644)
	raw, _ := os.ReadFile(out)
	raw[len(raw)-40] ^= 1
	os.WriteFile(out, raw, 0o444)
	if _, _, ok := read(t, b, k); ok {
		t.Error("a damaged imported entry was read")
	}
	if _, err := os.Stat(out); err != nil || len(warned) != 1 {
		t.Errorf("after the damaged entry: %v, warnings %q", err, warned)
	}
}

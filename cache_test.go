package gonixiso_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gonixiso/gonixiso"
	"github.com/gonixiso/gonixiso/boot"
	"github.com/gonixiso/gonixiso/cache"
	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/squash"
)

// fast is a quick compression for tests whose subject is not the compressor.
var fast = squash.Compression{Algorithm: squash.Zstd, Level: 3, PureGo: true}

// assemble builds top into a new ISO with cfg's other settings and returns its bytes and result.
func assemble(t *testing.T, top string, cfg gonixiso.Config) ([]byte, *gonixiso.Result) {
	t.Helper()
	cfg.Toplevel = top
	if cfg.Output == "" {
		cfg.Output = filepath.Join(t.TempDir(), "out.iso")
	}
	if cfg.Compression.Algorithm == "" {
		cfg.Compression = fast
	}
	res, err := gonixiso.Assemble(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cfg.Output)
	if err != nil {
		t.Fatal(err)
	}
	return b, res
}

// warnings collects what a cache reports.
type warnings struct {
	mu    sync.Mutex
	lines []string
}

func (w *warnings) add(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, fmt.Sprintf(format, args...))
}

func (w *warnings) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.lines, "\n")
}

func openCache(t *testing.T, dir string) (*cache.Cache, *warnings) {
	t.Helper()
	var warn warnings
	c, err := cache.Open(dir, warn.add)
	if err != nil {
		t.Fatal(err)
	}
	return c, &warn
}

// TestCacheWarmEqualsCold builds the test system without a cache, cold into an empty cache, and
// warm from it: three identical images, the warm one with every store path from the cache.
func TestCacheWarmEqualsCold(t *testing.T) {
	top := testsystem.Toplevel(t)
	none, _ := assemble(t, top, gonixiso.Config{})
	cc, warn := openCache(t, t.TempDir())
	cold, res := assemble(t, top, gonixiso.Config{Cache: cc})
	if res.CachedPaths != 0 {
		t.Fatalf("cold build used %d cached paths", res.CachedPaths)
	}
	warm, res := assemble(t, top, gonixiso.Config{Cache: cc})
	if res.CachedPaths != res.StorePaths {
		t.Errorf("warm build took %d of %d store paths from the cache", res.CachedPaths, res.StorePaths)
	}
	if !bytes.Equal(none, cold) || !bytes.Equal(cold, warm) {
		t.Fatal("images without a cache, cold and warm differ")
	}
	// A build that finds the closure by reading the store (no Nix database) finds the entries
	// too, by each path's index file, and reads each path once, to check its NAR hash.
	scanWarm, res := assemble(t, top, gonixiso.Config{Cache: cc, ClosureSource: closure.SourceScan})
	if res.CachedPaths != res.StorePaths || res.ClosureSource != "scan" {
		t.Errorf("warm build from a scan took %d of %d store paths from the cache (closure from the %s)",
			res.CachedPaths, res.StorePaths, res.ClosureSource)
	}
	if !bytes.Equal(scanWarm, none) {
		t.Fatal("a warm build from a scan differs from the cold build")
	}
	if s := warn.String(); s != "" {
		t.Errorf("unexpected cache warnings:\n%s", s)
	}
}

// TestCacheAnyOrder: a store path's cache entry is placed whatever order the store paths come in
// and whatever other paths the closure holds. The specialisation's closure is the main system's
// but for the main toplevel, and the two images order the paths differently (each toplevel
// first, its files shared with the specialisation's toplevel): after a build of either, a build
// of the other compresses only the paths the first did not have, and equals its cold build.
func TestCacheAnyOrder(t *testing.T) {
	top := testsystem.Toplevel(t)
	spec, err := filepath.EvalSymlinks(filepath.Join(top, "specialisation", testsystem.Specialisation))
	if err != nil {
		t.Fatal(err)
	}
	coldTop, _ := assemble(t, top, gonixiso.Config{})
	coldSpec, _ := assemble(t, spec, gonixiso.Config{})

	c, warn := openCache(t, t.TempDir())
	assemble(t, spec, gonixiso.Config{Cache: c})
	warm, res := assemble(t, top, gonixiso.Config{Cache: c})
	if res.CachedPaths != res.StorePaths-1 {
		t.Errorf("after the specialisation, the main build took %d of %d store paths from the cache, want all but its toplevel",
			res.CachedPaths, res.StorePaths)
	}
	if !bytes.Equal(warm, coldTop) {
		t.Error("the main build after the specialisation's differs from its cold build")
	}

	c2, warn2 := openCache(t, t.TempDir())
	assemble(t, top, gonixiso.Config{Cache: c2})
	warm, res = assemble(t, spec, gonixiso.Config{Cache: c2})
	if res.CachedPaths != res.StorePaths {
		t.Errorf("after the main system, the specialisation's build took %d of %d store paths from the cache, want all",
			res.CachedPaths, res.StorePaths)
	}
	if !bytes.Equal(warm, coldSpec) {
		t.Error("the specialisation's build after the main system's differs from its cold build")
	}
	if s := warn.String() + warn2.String(); s != "" {
		t.Errorf("unexpected cache warnings:\n%s", s)
	}
}

// TestCacheDamagedEntries corrupts, truncates and replaces entries: each is reported, never
// copied into an image, and rebuilt.
func TestCacheDamagedEntries(t *testing.T) {
	top := testsystem.Toplevel(t)
	dir := t.TempDir()
	cc, _ := openCache(t, dir)
	cold, _ := assemble(t, top, gonixiso.Config{Cache: cc})
	entries, err := cc.Entries()
	if err != nil || len(entries) < 4 {
		t.Fatalf("%d entries, %v", len(entries), err)
	}
	damage := map[string]func(p string) error{
		"flipped byte": func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0x40
			return os.WriteFile(p, b, 0o644)
		},
		"truncated": func(p string) error { return os.Truncate(p, 100) },
		"empty":     func(p string) error { return os.Truncate(p, 0) },
		"other entry": func(p string) error {
			b, err := os.ReadFile(entries[0].Path)
			if err != nil {
				return err
			}
			return os.WriteFile(p, b, 0o644)
		},
	}
	i := 1
	var names []string
	for name, f := range damage {
		if err := f(entries[i].Path); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		i++
	}
	cc, warn := openCache(t, dir)
	warm, res := assemble(t, top, gonixiso.Config{Cache: cc})
	if !bytes.Equal(cold, warm) {
		t.Fatal("a build from a damaged cache differs from the cold build")
	}
	if res.CachedPaths != res.StorePaths-len(damage) {
		t.Errorf("%d store paths from the cache, want %d", res.CachedPaths, res.StorePaths-len(damage))
	}
	for _, want := range []string{"checksum mismatch", "truncated", "another key"} {
		if !strings.Contains(warn.String(), want) {
			t.Errorf("no warning about %q for the damaged entries (%v):\n%s", want, names, warn)
		}
	}
	// The damaged entries were replaced: a third build takes everything from the cache.
	cc, warn = openCache(t, dir)
	again, res := assemble(t, top, gonixiso.Config{Cache: cc})
	if res.CachedPaths != res.StorePaths || !bytes.Equal(again, cold) || warn.String() != "" {
		t.Errorf("after repair: %d of %d from the cache, same bytes %v, warnings %q",
			res.CachedPaths, res.StorePaths, bytes.Equal(again, cold), warn)
	}
}

// TestCacheStoreChanged changes a file's time in a copy of the store after caching it: the NAR
// hash is the same, but the entry no longer describes the store path, so it is rebuilt.
func TestCacheStoreChanged(t *testing.T) {
	top := testsystem.Toplevel(t)
	root := t.TempDir()
	testsystem.StoreCopy(t, root)
	store := filepath.Join(root, closure.DefaultStoreDir)
	copyTop := top
	cfg := func(c *cache.Cache) gonixiso.Config {
		return gonixiso.Config{Cache: c, StoreRoot: root, ClosureSource: closure.SourceScan}
	}
	cc, _ := openCache(t, t.TempDir())
	assemble(t, copyTop, cfg(cc))
	var victim string
	for _, p := range testsystem.Closure(t, top) {
		if strings.HasSuffix(p, "-gonixiso-test-payload") {
			victim = filepath.Join(store, filepath.Base(p), "share", "data", "hello.txt")
		}
	}
	if err := os.Chtimes(victim, time.Unix(12345, 0), time.Unix(12345, 0)); err != nil {
		t.Fatal(err)
	}
	var warn warnings
	cc, err := cache.Open(cc.Dir(), warn.add)
	if err != nil {
		t.Fatal(err)
	}
	warm, res := assemble(t, copyTop, cfg(cc))
	if res.CachedPaths != res.StorePaths-1 || !strings.Contains(warn.String(), "modification time changed") {
		t.Errorf("%d of %d from the cache; warnings:\n%s", res.CachedPaths, res.StorePaths, warn.String())
	}
	cold, _ := assemble(t, copyTop, cfg(nil))
	if !bytes.Equal(cold, warm) {
		t.Fatal("the rebuilt image differs from a cold build")
	}

	// Other contents of the same size and time: the entry fits the tree on disk, but the NAR
	// hash that the build reads from the store is not the one the entry was stored under.
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(victim, 0o644)
	if err := os.WriteFile(victim, bytes.ToUpper(b), 0o444); err != nil {
		t.Fatal(err)
	}
	os.Chmod(victim, 0o444)
	os.Chtimes(victim, time.Unix(12345, 0), time.Unix(12345, 0))
	var log warnings
	c := cfg(cc)
	c.Log = log.add
	warm, res = assemble(t, copyTop, c)
	if res.CachedPaths != res.StorePaths-1 || !strings.Contains(log.String(), "the entry's is") {
		t.Errorf("%d of %d from the cache after a change of contents; log:\n%s", res.CachedPaths, res.StorePaths, log.String())
	}
	cold, _ = assemble(t, copyTop, cfg(nil))
	if !bytes.Equal(cold, warm) {
		t.Fatal("the image rebuilt after a change of contents differs from a cold build")
	}
}

// TestCacheConcurrentRuns runs two builds sharing one empty cache at the same time: both succeed
// with the same bytes, and the cache ends up whole.
func TestCacheConcurrentRuns(t *testing.T) {
	top := testsystem.Toplevel(t)
	dir := t.TempDir()
	var wg sync.WaitGroup
	images := make([][]byte, 3)
	for i := range images {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cc, err := cache.Open(dir, nil)
			if err != nil {
				t.Error(err)
				return
			}
			out := filepath.Join(t.TempDir(), "out.iso")
			if _, err := gonixiso.Assemble(context.Background(), gonixiso.Config{Toplevel: top, Output: out, Cache: cc, Compression: fast}); err != nil {
				t.Error(err)
				return
			}
			images[i], _ = os.ReadFile(out)
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i := 1; i < len(images); i++ {
		if !bytes.Equal(images[0], images[i]) {
			t.Fatalf("concurrent builds %d and 0 differ", i)
		}
	}
	cc, warn := openCache(t, dir)
	warm, res := assemble(t, top, gonixiso.Config{Cache: cc})
	if res.CachedPaths != res.StorePaths || !bytes.Equal(warm, images[0]) || warn.String() != "" {
		t.Errorf("after concurrent runs: %d of %d cached, same %v, warnings %q", res.CachedPaths, res.StorePaths, bytes.Equal(warm, images[0]), warn)
	}
}

// TestCacheInterrupted cancels a cold build once it has stored a few store paths' segments: the
// cache keeps them, and the rerun compresses only the store paths the first did not finish,
// with the bytes of a build without a cache.
func TestCacheInterrupted(t *testing.T) {
	top := testsystem.Toplevel(t)
	none, _ := assemble(t, top, gonixiso.Config{})
	cc, _ := openCache(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var stored []string
	cfg := gonixiso.Config{Toplevel: top, Output: filepath.Join(t.TempDir(), "x.iso"), Compression: fast, Cache: cc,
		Log: func(format string, args ...any) {
			line := fmt.Sprintf(format, args...)
			if p, ok := strings.CutPrefix(line, "cache: stored "); ok {
				mu.Lock()
				stored = append(stored, p)
				if len(stored) == 4 {
					cancel()
				}
				mu.Unlock()
			}
		}}
	if _, err := gonixiso.Assemble(ctx, cfg); err == nil {
		t.Fatal("the build was not interrupted")
	}
	if _, err := os.Stat(cfg.Output); !os.IsNotExist(err) {
		t.Errorf("an interrupted build left %s", cfg.Output)
	}
	mu.Lock()
	kept := len(stored)
	mu.Unlock()
	if kept < 4 {
		t.Fatalf("%d segments stored before the interruption", kept)
	}
	warm, res := assemble(t, top, gonixiso.Config{Cache: cc})
	if res.CachedPaths != kept {
		t.Errorf("the rerun took %d store paths from the cache, want the %d the interrupted build stored (%v)", res.CachedPaths, kept, stored)
	}
	if !bytes.Equal(warm, none) {
		t.Error("the rerun after an interruption differs from a build without a cache")
	}
}

// wholeBlocks returns the bytes of the whole blocks that are not holes, at the default block
// size (nixpkgs' 1 MiB), of the files under dir but skip: the bytes a writer that reuses their
// blocks takes as stored.
func wholeBlocks(t *testing.T, dir, skip string) int64 {
	t.Helper()
	const blockSize = 1 << 20
	var n int64
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || p == skip {
			return err
		}
		b, err := os.ReadFile(p)
		for i := 0; i+blockSize <= len(b); i += blockSize {
			if !bytes.Equal(b[i:i+blockSize], make([]byte, blockSize)) {
				n += blockSize
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 3*blockSize {
		t.Fatalf("%s has %d bytes of whole blocks of data, too few for this test", dir, n)
	}
	return n
}

// TestCacheInterruptedInPath fails a cold build in the middle of a store path, at a file it
// cannot pack (a FIFO, after the payload's data files): the cache keeps the blocks of the files
// the build had compressed whole, and once the FIFO is gone, the rerun takes them as stored
// instead of compressing them again, makes the bytes of a build without a cache, and leaves no
// unfinished entry behind (the cache holds what a cold build's holds).
func TestCacheInterruptedInPath(t *testing.T) {
	top := testsystem.Toplevel(t)
	root := t.TempDir()
	testsystem.StoreCopy(t, root)
	store := filepath.Join(root, closure.DefaultStoreDir)
	var payload string
	for _, p := range testsystem.Closure(t, top) {
		if strings.HasSuffix(p, "-gonixiso-test-payload") {
			payload = filepath.Join(store, filepath.Base(p))
		}
	}
	fifo := filepath.Join(payload, "share", "zzz-fifo")
	want := wholeBlocks(t, payload, "")
	for _, source := range []closure.Source{closure.SourceScan, closure.SourceDB} {
		t.Run(source.String(), func(t *testing.T) {
			cfg := func(c *cache.Cache) gonixiso.Config {
				cfg := gonixiso.Config{Cache: c, StoreRoot: root, ClosureSource: source}
				if source == closure.SourceDB {
					// The machine's database, whose store paths the copy holds.
					cfg.DBPath = closure.DefaultDBPath
				}
				return cfg
			}
			if err := unix.Mkfifo(fifo, 0o644); err != nil {
				t.Fatal(err)
			}
			var logged strings.Builder
			var mu sync.Mutex
			cc, _ := openCache(t, t.TempDir())
			failing := cfg(cc)
			failing.Toplevel, failing.Output, failing.Compression = top, filepath.Join(t.TempDir(), "x.iso"), fast
			failing.Log = func(format string, args ...any) {
				mu.Lock()
				fmt.Fprintf(&logged, format+"\n", args...)
				mu.Unlock()
			}
			_, err := gonixiso.Assemble(context.Background(), failing)
			os.Remove(fifo)
			if err == nil || !strings.Contains(err.Error(), "zzz-fifo") {
				t.Fatalf("a build of a store path with a FIFO: %v, want an error that names it", err)
			}
			mu.Lock()
			if !strings.Contains(logged.String(), "cache: kept the blocks of") {
				t.Errorf("the failed build kept nothing of the payload:\n%s", logged.String())
			}
			mu.Unlock()
			warm, res := assemble(t, top, cfg(cc))
			if res.ReusedBytes != want {
				t.Errorf("the rerun reused %d bytes of what the failed build compressed, want %d", res.ReusedBytes, want)
			}
			none, _ := assemble(t, top, cfg(nil))
			if !bytes.Equal(warm, none) {
				t.Error("the rerun after a failure in a store path differs from a build without a cache")
			}
			cold, _ := openCache(t, t.TempDir())
			assemble(t, top, cfg(cold))
			if a, b := entries(t, cc), entries(t, cold); a != b {
				t.Errorf("after the rerun, the cache holds %d entries, a cold build's %d", a, b)
			}
		})
	}
}

// entries counts a cache's entries.
func entries(t *testing.T, c *cache.Cache) int {
	t.Helper()
	es, err := c.Entries()
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestCacheEarlierVersion changes one small file of a store path after a build into the cache (its
// contents; its size and time stay, so that the entry is not discarded as one that no longer
// fits the tree, as a new version of a package would be another store path): the path is
// compressed again, but its unchanged files take the whole blocks its earlier segment stored
// (zeros.bin's are holes; tails are packed again), and the image equals a cold build's.
func TestCacheEarlierVersion(t *testing.T) {
	top := testsystem.Toplevel(t)
	root := t.TempDir()
	testsystem.StoreCopy(t, root)
	store := filepath.Join(root, closure.DefaultStoreDir)
	cfg := func(c *cache.Cache) gonixiso.Config {
		return gonixiso.Config{Cache: c, StoreRoot: root, ClosureSource: closure.SourceScan}
	}
	cc, _ := openCache(t, t.TempDir())
	if _, res := assemble(t, top, cfg(cc)); res.ReusedBytes != 0 {
		t.Errorf("a cold build reused %d bytes", res.ReusedBytes)
	}
	var payload string
	for _, p := range testsystem.Closure(t, top) {
		if strings.HasSuffix(p, "-gonixiso-test-payload") {
			payload = filepath.Join(store, filepath.Base(p))
		}
	}
	victim := filepath.Join(payload, "share", "data", "hello.txt")
	b, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(victim, 0o644)
	fi, err := os.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(victim, bytes.ToUpper(b), 0o444); err != nil {
		t.Fatal(err)
	}
	os.Chmod(victim, 0o444)
	os.Chtimes(victim, fi.ModTime(), fi.ModTime())
	want := wholeBlocks(t, payload, victim)
	warm, res := assemble(t, top, cfg(cc))
	if res.CachedPaths != res.StorePaths-1 {
		t.Errorf("%d of %d store paths from the cache, want all but the payload", res.CachedPaths, res.StorePaths)
	}
	if res.ReusedBytes != want {
		t.Errorf("%d bytes of the payload's earlier version reused, want %d", res.ReusedBytes, want)
	}
	cold, _ := assemble(t, top, cfg(nil))
	if !bytes.Equal(cold, warm) {
		t.Fatal("the image with the earlier version's blocks differs from a cold build")
	}
}

// TestCacheGrubImage: a build with a cache keeps grub-mkimage's image, and the next build with
// the same GRUB and embedded configuration takes it from there, with the same bytes; another
// embedded configuration (no serial console) runs grub-mkimage again.
func TestCacheGrubImage(t *testing.T) {
	top := testsystem.Toplevel(t)
	cc, warn := openCache(t, t.TempDir())
	build := func(cfg gonixiso.Config) ([]byte, bool) {
		t.Helper()
		var log warnings
		cfg.Cache, cfg.Log = cc, log.add
		b, _ := assemble(t, top, cfg)
		return b, strings.Contains(log.String(), "grub-mkimage from the cache")
	}
	cold, memo := build(gonixiso.Config{})
	if memo {
		t.Fatal("a build with an empty cache took GRUB's image from it")
	}
	warm, memo := build(gonixiso.Config{})
	if !memo {
		t.Error("the second build ran grub-mkimage again")
	}
	if !bytes.Equal(cold, warm) {
		t.Fatal("the image with GRUB's image from the cache differs")
	}
	noSerial := gonixiso.Config{Boot: boot.Options{NoSerial: true}}
	other, memo := build(noSerial)
	if memo {
		t.Error("another embedded configuration took GRUB's image from the cache")
	}
	none, _ := assemble(t, top, noSerial)
	if !bytes.Equal(other, none) {
		t.Fatal("the image without a serial console differs from one built without a cache")
	}
	if s := warn.String(); s != "" {
		t.Errorf("unexpected cache warnings:\n%s", s)
	}
}

// TestCacheCompressAhead: a warm build compresses the store paths the cache lacks ahead of the
// writer, stores them, and places them with the bytes a cold build has; a cold build does not.
func TestCacheCompressAhead(t *testing.T) {
	top := testsystem.Toplevel(t)
	spec, err := filepath.EvalSymlinks(filepath.Join(top, "specialisation", testsystem.Specialisation))
	if err != nil {
		t.Fatal(err)
	}
	coldTop, _ := assemble(t, top, gonixiso.Config{})
	c, warn := openCache(t, t.TempDir())
	out := t.TempDir()
	build := func(top string) ([]byte, *gonixiso.Result, string) {
		t.Helper()
		var log warnings
		b, res := assemble(t, top, gonixiso.Config{Cache: c, Log: log.add, Output: filepath.Join(out, "out.iso")})
		return b, res, log.String()
	}
	_, _, log := build(spec)
	if strings.Contains(log, "compressed ahead") {
		t.Errorf("a cold build compressed store paths ahead:\n%s", log)
	}
	warm, res, log := build(top)
	if want := "stored " + top + " (compressed ahead)"; !strings.Contains(log, want) {
		t.Errorf("the warm build's log lacks %q:\n%s", want, log)
	}
	if res.CachedPaths != res.StorePaths-1 {
		t.Errorf("the warm build took %d of %d store paths from the cache, want all but its toplevel", res.CachedPaths, res.StorePaths)
	}
	if !bytes.Equal(warm, coldTop) {
		t.Fatal("the warm build with its toplevel compressed ahead differs from its cold build")
	}
	again, res, _ := build(top)
	if res.CachedPaths != res.StorePaths || !bytes.Equal(again, coldTop) {
		t.Errorf("the next build took %d of %d store paths from the cache (want all), or differs", res.CachedPaths, res.StorePaths)
	}
	if s := warn.String(); s != "" {
		t.Errorf("unexpected cache warnings:\n%s", s)
	}
	if left, _ := filepath.Glob(filepath.Join(out, "*gonixiso-tmp")); len(left) > 0 {
		t.Errorf("scratch files left: %v", left)
	}
}

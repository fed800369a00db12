package liveiso

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gonixiso/gonixiso"
	"github.com/gonixiso/gonixiso/cache"
	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// sizeImages are two ISOs of the test system that gonixiso assembled with extra store paths:
// A with hello-2.12, B with hello-2.12.1, whose one program is growth bytes longer; both with
// payload-copy, whose files all repeat those of the test system's payload.
type sizeImages struct {
	a, b           string
	helloA, helloB string // store paths, under StoreDir
	copy, payload  string
	growth         int64
	results        map[string]*gonixiso.Result // by ISO
}

var (
	sizeOnce sync.Once
	sizes    *sizeImages
	sizesErr error
)

// Extra store paths' hashes: after every hash of the test system's closure, so that a Walk
// reaches them last (the payload before its copy).
const (
	helloAName = "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz0-hello-2.12"
	copyName   = "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz1-payload-copy"
	helloBName = "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz2-hello-2.12.1"
)

// buildSizeImages assembles the size images once per test process, into a folder of the test
// cache that the next run replaces.
func buildSizeImages(t testing.TB) *sizeImages {
	t.Helper()
	top := testsystem.Toplevel(t)
	paths := testsystem.Closure(t, top)
	testsystem.Require(t, "cp")
	sizeOnce.Do(func() {
		sizes, sizesErr = makeSizeImages(top, paths, filepath.Join(testsystem.CacheDir(t), "size-images"))
	})
	if sizesErr != nil {
		t.Fatal(sizesErr)
	}
	return sizes
}

func makeSizeImages(top string, paths []string, dir string) (*sizeImages, error) {
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	root := filepath.Join(dir, "root")
	store := filepath.Join(root, closure.DefaultStoreDir)
	if err := os.MkdirAll(store, 0o755); err != nil {
		return nil, err
	}
	im := &sizeImages{a: filepath.Join(dir, "a.iso"), b: filepath.Join(dir, "b.iso"), growth: 100 << 10,
		helloA: StoreDir + "/" + helloAName, helloB: StoreDir + "/" + helloBName, copy: StoreDir + "/" + copyName}
	for _, p := range paths {
		if out, err := exec.Command("cp", "-a", p, store).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("cp -a %s: %v\n%s", p, err, out)
		}
		if strings.HasSuffix(p, "-gonixiso-test-payload") {
			im.payload = StoreDir + "/" + filepath.Base(p)
		}
	}
	if im.payload == "" {
		return nil, fmt.Errorf("the test system's closure has no payload path: %v", paths)
	}
	rng := rand.New(rand.NewPCG(15, 15))
	random := func(n int64) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	program := random(200 << 10)
	hello := map[string][]byte{
		"bin/hello":             program,
		"share/doc/hello/NEWS":  []byte(strings.Repeat("* Noteworthy changes in this release\n", 200)),
		"share/locale/de/hello": []byte("Hallo, Welt!\n"),
	}
	write := func(path string, files map[string][]byte) error {
		for name, data := range files {
			p := filepath.Join(store, path, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, data, 0o444); err != nil {
				return err
			}
		}
		return nil
	}
	if err := write(helloAName, hello); err != nil {
		return nil, err
	}
	hello["bin/hello"] = append(program[:len(program):len(program)], random(im.growth)...)
	if err := write(helloBName, hello); err != nil {
		return nil, err
	}
	payload := filepath.Join(store, filepath.Base(im.payload))
	if out, err := exec.Command("cp", "-a", payload, filepath.Join(store, copyName)).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cp -a %s: %v\n%s", payload, err, out)
	}
	c, err := cache.Open(filepath.Join(dir, "cache"), nil)
	if err != nil {
		return nil, err
	}
	for _, x := range []struct{ out, hello string }{{im.a, helloAName}, {im.b, helloBName}} {
		res, err := gonixiso.Assemble(context.Background(), gonixiso.Config{Toplevel: top, StoreRoot: root,
			ClosureSource: closure.SourceScan, Output: x.out, Cache: c,
			ExtraPaths: []string{filepath.Join(closure.DefaultStoreDir, x.hello), filepath.Join(closure.DefaultStoreDir, copyName)}})
		if err != nil {
			return nil, fmt.Errorf("assemble %s: %w", x.out, err)
		}
		if im.results == nil {
			im.results = map[string]*gonixiso.Result{}
		}
		im.results[x.out] = res
	}
	return im, nil
}

// TestInspectCosts: in gonixiso's images the store paths' costs and the image-wide parts add up
// to the SquashFS's size, exactly; a path whose files all repeat another's costs only metadata.
func TestInspectCosts(t *testing.T) {
	im := buildSizeImages(t)
	for _, iso := range []string{im.a, im.b} {
		ins, err := Inspect(context.Background(), iso)
		if err != nil {
			t.Fatal(err)
		}
		s := ins.SquashFS
		k := s.Costs
		if k == nil || k.Basis != CostExact || k.SharedFragmentBlocks != 0 {
			t.Fatalf("%s: costs %+v, want exact", iso, k)
		}
		sum := k.Registration + k.Root + k.Superblock + k.Unreferenced + k.Unattributed + k.Tables + k.Padding
		byPath := map[string]StorePathInfo{}
		for _, p := range ins.StorePaths {
			sum += p.Cost
			byPath[p.Path] = p
			if p.Cost != p.CostData+p.CostFragments+p.CostMetadata || p.CostMetadata <= 0 {
				t.Errorf("%s: %s: cost %d = %d + %d + %d", iso, p.Path, p.Cost, p.CostData, p.CostFragments, p.CostMetadata)
			}
		}
		if sum != s.Size || k.Total != s.Size || k.Unreferenced != 0 || k.Unattributed != 0 {
			t.Errorf("%s: the costs add up to %d, the SquashFS has %d bytes: %+v", iso, sum, s.Size, k)
		}
		// Assemble's summary names the costliest paths with the costs inspect gives.
		byCost := slices.Clone(ins.StorePaths)
		slices.SortFunc(byCost, func(a, b StorePathInfo) int { return cmp.Or(cmp.Compare(b.Cost, a.Cost), cmp.Compare(a.Path, b.Path)) })
		var costliest []gonixiso.PathCost
		for _, p := range byCost[:5] {
			costliest = append(costliest, gonixiso.PathCost{Path: p.Path, Cost: p.Cost, Size: p.Size})
		}
		if got := im.results[iso].Costliest; !slices.Equal(got, costliest) {
			t.Errorf("%s: Assemble's costliest store paths\n%v\nwant, as inspect counts them,\n%v", iso, got, costliest)
		}
		cp, payload := byPath[im.copy], byPath[im.payload]
		// Its files share the payload's blocks, and its fragment blocks are the payload's (the
		// same tails, packed the same way). (Its empty and all-sparse files have nothing
		// stored, duplicate or not.)
		if cp.CostData != 0 || cp.CostFragments != 0 || cp.Duplicates == 0 || cp.Files != payload.Files {
			t.Errorf("%s: the payload's copy %+v: want its metadata only", iso, cp)
		}
		if payload.CostData+payload.CostFragments == 0 || payload.Duplicates != 0 {
			t.Errorf("%s: the payload %+v: want its data", iso, payload)
		}
		if cp.CostMetadata > payload.CostMetadata+payload.CostMetadata/2 {
			t.Errorf("%s: the copy's metadata, %d bytes, much more than the payload's, %d", iso, cp.CostMetadata, payload.CostMetadata)
		}
		hello, want := byPath[im.helloA], int64(200<<10)
		if iso == im.b {
			hello, want = byPath[im.helloB], want+im.growth
		}
		// The program is random: stored as it is (in a fragment block of its own path).
		if data := hello.CostData + hello.CostFragments; data < want || data > want+8<<10 {
			t.Errorf("%s: hello %+v, want its data about %d bytes", iso, hello, want)
		}
	}
}

// TestInspectCostsBaseline: in nixpkgs' images (mksquashfs) the costs are an estimate that says
// why, and still add up to the SquashFS's size.
func TestInspectCostsBaseline(t *testing.T) {
	for _, iso := range []string{testsystem.BaselineISO(t), testsystem.BaselineISO(t, "--comp", "xz -Xdict-size 100% -Xbcj x86")} {
		ins, err := Inspect(context.Background(), iso)
		if err != nil {
			t.Fatal(err)
		}
		k := ins.SquashFS.Costs
		if k == nil || k.Basis != CostEstimate || k.SharedFragmentBlocks == 0 || !strings.Contains(k.Why, "mksquashfs") {
			t.Fatalf("%s: costs %+v, want an estimate saying why", iso, k)
		}
		sum := k.Registration + k.Root + k.Superblock + k.Unreferenced + k.Unattributed + k.Tables + k.Padding
		for _, p := range ins.StorePaths {
			sum += p.Cost
		}
		if sum != ins.SquashFS.Size || k.Total != sum || k.Unreferenced != 0 || k.Unattributed != 0 {
			t.Errorf("%s: the costs add up to %d, the SquashFS has %d bytes: %+v", iso, sum, ins.SquashFS.Size, k)
		}
	}
}

// TestDiffSizes: two images that differ in one store path, hello-2.12 → hello-2.12.1 whose
// program grew: the size deltas name that path, paired by name, with the right sign and size,
// and add up to the SquashFS's delta; the file that differs is named with its first differing
// byte.
func TestDiffSizes(t *testing.T) {
	im := buildSizeImages(t)
	for _, dir := range []struct {
		a, b string
		sign int64
	}{{im.a, im.b, 1}, {im.b, im.a, -1}} {
		rep := diffOf(t, dir.a, dir.b)
		z := rep.Sizes
		if z == nil || z.Basis != CostExact || len(z.StorePaths) != 1 {
			t.Fatalf("sizes %+v, want one store path changed, exactly", z)
		}
		p := z.StorePaths[0]
		from, to := "2.12", "2.12.1"
		pa, pb := im.helloA, im.helloB
		if dir.sign < 0 {
			from, to, pa, pb = to, from, pb, pa
		}
		if p.Change != "changed" || p.Name != "hello" || p.VersionA != from || p.VersionB != to || p.A != pa || p.B != pb || p.Files != 1 {
			t.Errorf("store path delta %+v, want hello %s → %s", p, from, to)
		}
		if p.Size.Delta != dir.sign*im.growth {
			t.Errorf("hello's size delta %d, want %d", p.Size.Delta, dir.sign*im.growth)
		}
		// Random bytes do not compress: the cost grows by them, give or take a few bytes of
		// the fragment block they share with the path's text and of metadata.
		if c := dir.sign * p.Cost.Delta; c < im.growth-256 || c > im.growth+256 {
			t.Errorf("hello's cost delta %d, want %d and a few bytes", p.Cost.Delta, dir.sign*im.growth)
		}
		if sum := p.Cost.Delta + z.Unchanged.Delta + z.Other.Delta; sum != z.SquashFS.Delta {
			t.Errorf("the deltas add up to %d, the SquashFS's is %d: %+v", sum, z.SquashFS.Delta, z)
		}
		if abs(z.Unchanged.Delta) > 64 || abs(z.Other.Delta) > 64 {
			t.Errorf("unchanged paths %+v, image-wide parts %+v: want a few bytes", z.Unchanged, z.Other)
		}
		var pair, file bool
		for _, d := range rep.Differences {
			switch {
			case d.Level == LevelStorePath && d.Path == pb && strings.HasPrefix(d.Message, "hello: "+from+" → "+to+", "):
				pair = true
			case d.Level == LevelFile && d.Path == pb+"/bin/hello":
				file = true
				if want := int64(200 << 10); d.Offset != want || !strings.Contains(d.Message, fmt.Sprintf("contents differ from byte %d", want)) {
					t.Errorf("%s: %q at %d, want contents differing from byte %d", d.Path, d.Message, d.Offset, want)
				}
			case d.Level == LevelStorePath && (strings.Contains(d.Message, "added") || strings.Contains(d.Message, "removed")):
				t.Errorf("a path of a pair said added or removed: %+v", d)
			case d.Level == LevelFile:
				t.Errorf("unrelated file difference: %+v", d)
			}
		}
		if !pair || !file {
			t.Errorf("want the pair (%v) and its program (%v) named", pair, file)
		}
	}
}

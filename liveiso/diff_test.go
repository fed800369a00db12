package liveiso

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonixiso/gonixiso"
	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// changedFile is the file of the test system's payload that the "changed" image alters.
const changedFile = "share/data/hello.txt"

// testImages are ISOs of the test system that gonixiso assembled from a copy of its store:
// pristine, with one store file changed, and pristine with another SOURCE_DATE_EPOCH.
type testImages struct {
	dir      string
	pristine string
	changed  string
	redated  string
	payload  string // the store path (under StoreDir) whose file changed
}

var (
	imagesOnce sync.Once
	images     *testImages
	imagesErr  error
)

// otherEpoch is the redated image's SOURCE_DATE_EPOCH, 2000-01-01T00:00:00Z.
var otherEpoch = time.Unix(946684800, 0).UTC()

// buildImages assembles the test images once per test process, into a folder of the test
// cache that the next run replaces.
func buildImages(t testing.TB) *testImages {
	t.Helper()
	top := testsystem.Toplevel(t)
	paths := testsystem.Closure(t, top)
	testsystem.Require(t, "cp")
	imagesOnce.Do(func() {
		images, imagesErr = makeImages(top, paths, filepath.Join(testsystem.CacheDir(t), "tools-images"))
	})
	if imagesErr != nil {
		t.Fatal(imagesErr)
	}
	return images
}

func makeImages(top string, paths []string, dir string) (*testImages, error) {
	// The last run's store copy has read-only folders, as the store has.
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	// A chroot store (nix --store root): the store paths keep their /nix/store names.
	root := filepath.Join(dir, "root")
	store := filepath.Join(root, closure.DefaultStoreDir)
	if err := os.MkdirAll(store, 0o755); err != nil {
		return nil, err
	}
	im := &testImages{dir: dir, pristine: filepath.Join(dir, "pristine.iso"), changed: filepath.Join(dir, "changed.iso"),
		redated: filepath.Join(dir, "redated.iso")}
	var payload string
	for _, p := range paths {
		if out, err := exec.Command("cp", "-a", p, store).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("cp -a %s: %v\n%s", p, err, out)
		}
		if strings.HasSuffix(p, "-gonixiso-test-payload") {
			payload = filepath.Base(p)
		}
	}
	if payload == "" {
		return nil, fmt.Errorf("the test system's closure has no payload path: %v", paths)
	}
	im.payload = StoreDir + "/" + payload
	assemble := func(out string, epoch time.Time) error {
		_, err := gonixiso.Assemble(context.Background(), gonixiso.Config{Toplevel: top,
			StoreRoot: root, ClosureSource: closure.SourceScan, Output: out, Epoch: epoch})
		if err != nil {
			return fmt.Errorf("assemble %s: %w", out, err)
		}
		return nil
	}
	if err := assemble(im.pristine, time.Time{}); err != nil {
		return nil, err
	}
	if err := assemble(im.redated, otherEpoch); err != nil {
		return nil, err
	}
	// The same store directory, with one file of one store path changed (same length).
	f := filepath.Join(store, payload, changedFile)
	old, err := os.ReadFile(f)
	if err != nil {
		return nil, err
	}
	if len(old) < 2 {
		return nil, fmt.Errorf("%s has %d bytes; the test changes its second", f, len(old))
	}
	dirInfo, err := os.Lstat(filepath.Dir(f))
	if err != nil {
		return nil, err
	}
	changed := []byte(string(old))
	changed[1] ^= 0x20 // "hello" → "hEllo"
	if err := os.Chmod(filepath.Dir(f), 0o755); err != nil {
		return nil, err
	}
	if err := os.Remove(f); err != nil {
		return nil, err
	}
	if err := os.WriteFile(f, changed, 0o444); err != nil {
		return nil, err
	}
	// Keep the store's dates (Nix stores every file with mtime 1), the file's and its folder's.
	if err := os.Chtimes(f, dirInfo.ModTime(), dirInfo.ModTime()); err != nil {
		return nil, err
	}
	if err := os.Chmod(filepath.Dir(f), dirInfo.Mode().Perm()); err != nil {
		return nil, err
	}
	if err := os.Chtimes(filepath.Dir(f), dirInfo.ModTime(), dirInfo.ModTime()); err != nil {
		return nil, err
	}
	if err := assemble(im.changed, time.Time{}); err != nil {
		return nil, err
	}
	return im, nil
}

// diffOf runs Diff and fails the test on error.
func diffOf(t *testing.T, a, b string) *DiffReport {
	t.Helper()
	rep, err := Diff(context.Background(), a, b)
	if err != nil {
		t.Fatalf("Diff(%s, %s): %v", a, b, err)
	}
	for _, d := range rep.Differences {
		t.Logf("%s %s: %s", d.Level, d.Path, d.Message)
	}
	return rep
}

func TestDiffOneFile(t *testing.T) {
	im := buildImages(t)
	rep := diffOf(t, im.pristine, im.changed)
	if rep.Identical {
		t.Fatal("the images are reported identical")
	}
	file := im.payload + "/" + changedFile
	var sawHash, sawFile bool
	for _, d := range rep.Differences {
		switch {
		case d.Level == LevelStorePath && d.Path == im.payload && strings.HasPrefix(d.Message, "NAR hash ") &&
			strings.Contains(d.Message, RegistrationName):
			sawHash = true
		case d.Level == LevelFile && d.Path == file:
			sawFile = true
			// The test changed the second byte, in place.
			if d.Offset != 1 || d.Message != "contents differ from byte 1" {
				t.Errorf("%s: %q at offset %d, want contents differing from byte 1", file, d.Message, d.Offset)
			}
		case d.Level == LevelSquashFS && d.Path == "superblock" && strings.HasPrefix(d.Message, "bytes used "):
			// The metadata compresses to a few bytes more or less.
		case d.Level == LevelISO && d.Path == SquashFSPath:
		default:
			t.Errorf("unrelated difference: %+v", d)
		}
	}
	if !sawHash || !sawFile {
		t.Errorf("want the payload's NAR hash (%v) and %s (%v) named", sawHash, file, sawFile)
	}
	// The same, the other way round.
	back := diffOf(t, im.changed, im.pristine)
	if len(back.Differences) != len(rep.Differences) {
		t.Errorf("%d differences one way, %d the other", len(rep.Differences), len(back.Differences))
	}
}

func TestDiffIdentical(t *testing.T) {
	im := buildImages(t)
	cp := filepath.Join(t.TempDir(), "copy.iso")
	data, err := os.ReadFile(im.pristine)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{im.pristine, cp} {
		rep := diffOf(t, im.pristine, b)
		if !rep.Identical || len(rep.Differences) != 0 {
			t.Errorf("%s and %s: identical %v, %d differences", im.pristine, b, rep.Identical, len(rep.Differences))
		}
	}
}

func TestDiffDate(t *testing.T) {
	im := buildImages(t)
	rep := diffOf(t, im.pristine, im.redated)
	from, to := gonixiso.DefaultEpoch.Format(time.RFC3339), otherEpoch.Format(time.RFC3339)
	want := map[string]bool{
		"iso primary volume descriptor: creation date " + from + " → " + to:    false,
		"iso joliet volume descriptor: modification date " + from + " → " + to: false,
		"squashfs superblock: modification time " + from + " → " + to:          false,
		"squashfs " + StoreDir + ": modification time " + from + " → " + to:    false,
	}
	var tree, efi bool
	for _, d := range rep.Differences {
		line := fmt.Sprintf("%s %s: %s", d.Level, d.Path, d.Message)
		if _, ok := want[line]; ok {
			want[line] = true
		}
		switch {
		case d.Level == LevelISO && d.Path == "/" && strings.HasPrefix(d.Message, "modification time of "):
			tree = true
		case d.Level == LevelBoot && d.Path == "/boot/efi.img" && strings.Contains(d.Message, from+" → "+to):
			efi = true
		case d.Level == LevelStorePath || d.Level == LevelFile:
			t.Errorf("a date changes no store path: %s", line)
		}
	}
	for line, seen := range want {
		if !seen {
			t.Errorf("missing %q", line)
		}
	}
	if !tree || !efi {
		t.Errorf("want the ISO tree's dates (%v) and the EFI image's (%v) said once each", tree, efi)
	}
}

// patchVolumeID writes a copy of iso whose primary volume descriptor names the volume id.
func patchVolumeID(t *testing.T, iso, id string) string {
	t.Helper()
	data, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	// ECMA-119 8.4.6: the volume identifier, 32 d-characters at byte 40 of the descriptor in
	// sector 16, padded with spaces.
	const pvd, volumeID = 16 * 2048, 40
	field := data[pvd+volumeID : pvd+volumeID+32]
	copy(field, fmt.Sprintf("%-32s", id))
	out := filepath.Join(t.TempDir(), "volume-id.iso")
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDiffVolumeID(t *testing.T) {
	im := buildImages(t)
	other := patchVolumeID(t, im.pristine, "OTHER_VOLUME")
	rep := diffOf(t, im.pristine, other)
	want := Difference{Level: LevelISO, Path: "primary volume descriptor", Offset: -1,
		Message: fmt.Sprintf("volume id %q → %q", testsystem.VolumeID, "OTHER_VOLUME")}
	if rep.Identical || len(rep.Differences) != 1 || rep.Differences[0] != want {
		t.Errorf("differences %+v, want only %+v", rep.Differences, want)
	}
}

// TestDiffCompressors compares nixpkgs' zstd and xz images of the same closure: the contents
// are compared decompressed, and only the SquashFS's encoding differs.
func TestDiffCompressors(t *testing.T) {
	zstd := testsystem.BaselineISO(t)
	xz := testsystem.BaselineISO(t, "--comp", "xz -Xdict-size 100% -Xbcj x86")
	rep := diffOf(t, zstd, xz)
	var comp bool
	for _, d := range rep.Differences {
		switch {
		case d.Level == LevelSquashFS && d.Path == "superblock" && d.Message == `compression "zstd" → "xz"`:
			comp = true
		case d.Level == LevelStorePath || d.Level == LevelFile || d.Level == LevelBoot:
			t.Errorf("the same closure differs: %+v", d)
		}
	}
	if !comp {
		t.Error("the compressors' difference is not said")
	}
}

func TestDiffErrors(t *testing.T) {
	iso := testsystem.BaselineISO(t)
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.iso")
	if err := os.WriteFile(junk, make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]string{{iso, junk}, {junk, iso}, {iso, filepath.Join(dir, "missing.iso")}} {
		_, err := Diff(context.Background(), c[0], c[1])
		bad := c[1]
		if bad == iso {
			bad = c[0]
		}
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("Diff(%s, %s): %v, want an error naming %s", c[0], c[1], err, bad)
		}
	}
}

func TestLineDiff(t *testing.T) {
	a := []byte("one\ntwo\nthree\nfour\nfive\n")
	b := []byte("one\n2\nthree\nfour\nfive\nsix\n")
	got := lineDiff(a, b)
	want := []string{"@@ -2 +2 @@\n-two\n+2", "@@ -5,0 +6 @@\n+six"}
	if !slices.Equal(got, want) {
		t.Errorf("lineDiff = %q, want %q", got, want)
	}
	if got := lineDiff(a, a); len(got) != 0 {
		t.Errorf("lineDiff of equal texts = %q", got)
	}
}

// Benchmarks on the test images (about 40 MB each).

func BenchmarkDiffOneFile(b *testing.B) {
	im := buildImages(b)
	for b.Loop() {
		if _, err := Diff(context.Background(), im.pristine, im.changed); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDiffIdentical(b *testing.B) {
	im := buildImages(b)
	fi, err := os.Stat(im.pristine)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(2 * fi.Size())
	for b.Loop() {
		if _, err := Diff(context.Background(), im.pristine, im.pristine); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInspect(b *testing.B) {
	im := buildImages(b)
	for b.Loop() {
		if _, err := Inspect(context.Background(), im.pristine); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkManifest(b *testing.B) {
	im := buildImages(b)
	ins, err := Inspect(context.Background(), im.pristine)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(ins.SquashFS.FileBytes)
	for b.Loop() {
		if _, err := Manifest(context.Background(), im.pristine); err != nil {
			b.Fatal(err)
		}
	}
}

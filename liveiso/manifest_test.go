package liveiso

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// extractedManifest lists a tree that a tool extracted, under prefix, as Manifest lists entries.
// Directories' modes are left out when dirModes is false (osirrox makes them writable to fill
// them).
func extractedManifest(t *testing.T, root, prefix string, dirModes bool) []ManifestEntry {
	t.Helper()
	var out []ManifestEntry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := prefix
		if rel != "." {
			name = strings.TrimSuffix(prefix, "/") + "/" + filepath.ToSlash(rel)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := ManifestEntry{Path: name, Type: typeName(fi.Mode()), Mode: fmt.Sprintf("%04o", modeBits(fi.Mode()))}
		switch {
		case fi.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			e.Size, e.SHA256 = fi.Size(), hex.EncodeToString(h.Sum(nil))
		case fi.Mode()&fs.ModeSymlink != 0:
			if e.Target, err = os.Readlink(p); err != nil {
				return err
			}
		case fi.IsDir() && !dirModes:
			e.Mode = ""
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestManifestAgainstTools(t *testing.T) {
	testsystem.Require(t, "osirrox", "unsquashfs")
	for _, c := range []struct{ name, iso string }{
		{"nixpkgs", testsystem.BaselineISO(t)},
		{"gonixiso", buildImages(t).pristine},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := Manifest(context.Background(), c.iso)
			if err != nil {
				t.Fatal(err)
			}
			if !sort.SliceIsSorted(m, func(i, j int) bool { return m[i].Path < m[j].Path }) {
				t.Error("the manifest is not sorted by path")
			}
			dir := t.TempDir()
			isoDir, sqDir := filepath.Join(dir, "iso"), filepath.Join(dir, "squashfs")
			if out, err := exec.Command("osirrox", "-indev", c.iso, "-extract", "/", isoDir).CombinedOutput(); err != nil {
				t.Fatalf("osirrox -extract: %v\n%s", err, out)
			}
			if out, err := exec.Command("unsquashfs", "-no-progress", "-d", sqDir, filepath.Join(isoDir, SquashFSPath)).CombinedOutput(); err != nil {
				t.Fatalf("unsquashfs: %v\n%s", err, out)
			}
			want := append(extractedManifest(t, isoDir, "/", false), extractedManifest(t, sqDir, StoreDir, true)...)
			sort.SliceStable(want, func(i, j int) bool { return want[i].Path < want[j].Path })
			got := slices.Clone(m)
			for i := range got {
				if got[i].Type == "directory" && !strings.HasPrefix(got[i].Path, StoreDir) {
					got[i].Mode = ""
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d entries, the extracted trees have %d", len(got), len(want))
			}
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Fatalf("entry %d: %+v\nextracted:  %+v", i, got[i], want[i])
				}
			}
			var files int
			for _, e := range m {
				if e.Type == "file" {
					files++
				}
			}
			if files < 100 {
				t.Errorf("only %d files", files)
			}
		})
	}
}

// TestManifestWorkers checks that the manifest does not depend on the number of cores.
func TestManifestWorkers(t *testing.T) {
	iso := testsystem.BaselineISO(t)
	all, err := Manifest(context.Background(), iso)
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	one, err := Manifest(context.Background(), iso)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(all, one) {
		t.Error("the manifest differs with one core")
	}
}

func TestManifestCanceled(t *testing.T) {
	iso := testsystem.BaselineISO(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Manifest(ctx, iso); err == nil {
		t.Error("a canceled context gave a manifest")
	}
}

// TestManifestJolietOnly lists an ISO without Rock Ridge, as genisoimage -J and xorriso
// -rockridge off write them, as the kernel mounts it and osirrox extracts it: Joliet names (not
// the ISO 9660 short names, /LIBCDIO) and mode 0555.
func TestManifestJolietOnly(t *testing.T) {
	testsystem.Require(t, "genisoimage", "xorriso", "osirrox")
	src := t.TempDir()
	for name, data := range map[string]string{
		"libcdio/Readme.Long-Name.txt": "hello\n",
		"libcdio/Sub Dir/empty":        "",
		"été/日本語.txt":                  "utf-8\n",
	} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	for _, tool := range []string{"genisoimage", "xorriso"} {
		iso := filepath.Join(dir, tool+".iso")
		var out []byte
		var err error
		if tool == "genisoimage" {
			out, err = exec.Command("genisoimage", "-quiet", "-J", "-o", iso, src).CombinedOutput()
		} else {
			out, err = exec.Command("xorriso", "-joliet", "on", "-rockridge", "off", "-outdev", iso, "-map", src, "/", "-commit").CombinedOutput()
		}
		if err != nil {
			t.Fatalf("%s: %v\n%s", tool, err, out)
		}
		m := manifestAgainstOsirrox(t, iso, true)
		if !slices.ContainsFunc(m, func(e ManifestEntry) bool { return e.Path == "/libcdio/Sub Dir/empty" && e.Mode == "0555" }) {
			t.Errorf("%s: no Joliet name with mode 0555 in %v", tool, m)
		}
	}
}

// manifestAgainstOsirrox returns the manifest of an ISO without a SquashFS, after checking it
// against osirrox's extraction (with directories' modes when dirModes).
func manifestAgainstOsirrox(t *testing.T, iso string, dirModes bool) []ManifestEntry {
	t.Helper()
	m, err := Manifest(context.Background(), iso)
	if err != nil {
		t.Fatal(err)
	}
	x := filepath.Join(t.TempDir(), "x")
	if out, err := exec.Command("osirrox", "-indev", iso, "-extract", "/", x).CombinedOutput(); err != nil {
		t.Fatalf("osirrox -extract: %v\n%s", err, out)
	}
	want := extractedManifest(t, x, "/", dirModes)
	sort.SliceStable(want, func(i, j int) bool { return want[i].Path < want[j].Path })
	got := slices.Clone(m)
	for i := range got {
		if got[i].Type == "directory" && !dirModes {
			got[i].Mode = ""
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: manifest\n%v\nosirrox extracts\n%v", iso, got, want)
	}
	return m
}

// TestManifestZisofs lists an ISO whose files xorriso compressed with zisofs, and zisofs2: their
// sizes and hashes are those of the uncompressed contents, as osirrox extracts them.
func TestManifestZisofs(t *testing.T) {
	testsystem.Require(t, "xorriso", "osirrox")
	src := t.TempDir()
	text := strings.Repeat("zisofs compresses this text well\n", 10_000)
	for name, data := range map[string]string{
		"share/text": text, "share/zeros": strings.Repeat("\x00", 300_000) + "end", "small": "small\n",
	} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, params := range []string{"block_size=64k", "version_2=on"} {
		iso := filepath.Join(t.TempDir(), "z.iso")
		out, err := exec.Command("xorriso", "-zisofs", params, "-outdev", iso, "-map", src, "/",
			"-set_filter_r", "--zisofs", "/", "--", "-commit").CombinedOutput()
		if err != nil {
			t.Fatalf("xorriso: %v\n%s", err, out)
		}
		m := manifestAgainstOsirrox(t, iso, false)
		if !slices.ContainsFunc(m, func(e ManifestEntry) bool { return e.Path == "/share/text" && e.Size == int64(len(text)) }) {
			t.Errorf("%s: /share/text is not listed at its uncompressed size: %v", params, m)
		}
	}
}

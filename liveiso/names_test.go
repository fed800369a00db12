package liveiso_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/internal/livestore"
	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/liveiso"
	"github.com/gonixiso/gonixiso/squash"
)

// namesStorePath is the store path of TestManifestNamesNotUTF8's tree.
const namesStorePath = "0123456789abcdfghijklmnpqrsvwxyz-names"

// TestManifestNamesNotUTF8 lists, with Manifest, ISOs whose SquashFS gonixiso's writer, and
// mksquashfs with every compressor it has, made from a tree whose names are not all UTF-8 (Nix
// allows any bytes but "/"), and compares the listing with what unsquashfs extracts: names
// stay bytes end to end.
func TestManifestNamesNotUTF8(t *testing.T) {
	testsystem.Require(t, "mksquashfs", "unsquashfs")
	src := t.TempDir()
	sp := filepath.Join(src, namesStorePath)
	text := bytes.Repeat([]byte("text that compresses, in several blocks\n"), 400)
	files := map[string][]byte{
		"caf\xe9":                     []byte("latin-1\n"),
		"\xff\xfe/not-utf8-dir-file":  text,
		"\xff\xfe/\x80\x81 both \xc3": []byte("small\n"),
		"ok/utf8-é":                   []byte("utf-8\n"),
		"sparse-\xe9":                 append(make([]byte, 3*4096), "end"...),
	}
	for name, data := range files {
		p := filepath.Join(sp, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("caf\xe9", filepath.Join(sp, "link-\xe8")); err != nil {
		t.Fatal(err)
	}
	for _, comp := range []string{"gonixiso", "gzip", "lzo", "lz4", "xz", "zstd", "lzma"} {
		t.Run(comp, func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "store.squashfs")
			if comp == "gonixiso" {
				writeStore(t, img, sp)
			} else if out, err := exec.Command("mksquashfs", sp, img, "-comp", comp, "-b", "4K", "-keep-as-directory",
				"-all-root", "-no-hardlinks", "-no-progress", "-quiet").CombinedOutput(); err != nil {
				t.Fatalf("mksquashfs: %v\n%s", err, out)
			}
			sq, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			iso := filepath.Join(dir, "names.iso")
			hostileISO(t, iso, sq)
			m, err := liveiso.Manifest(context.Background(), iso)
			if err != nil {
				t.Fatal(err)
			}
			// Inspect and Diff read every file by its entry too.
			if _, err := liveiso.Inspect(context.Background(), iso); err != nil {
				t.Errorf("Inspect: %v", err)
			}
			other := filepath.Join(dir, "other.iso")
			sq[8] ^= 1 // another creation time: Diff compares the files
			hostileISO(t, other, sq)
			if rep, err := liveiso.Diff(context.Background(), iso, other); err != nil || len(rep.Differences) != 1 {
				t.Errorf("Diff with another creation time: %v, %+v", err, rep)
			}
			var got []string
			for _, e := range m {
				if strings.HasPrefix(e.Path, liveiso.StoreDir+"/") {
					got = append(got, fmt.Sprintf("%q %s %s %d %s %q", e.Path, e.Type, e.Mode, e.Size, e.SHA256, e.Target))
				}
			}
			out := filepath.Join(dir, "x")
			if b, err := exec.Command("unsquashfs", "-no-progress", "-d", out, img).CombinedOutput(); err != nil {
				t.Fatalf("unsquashfs: %v\n%s", err, b)
			}
			want := extracted(t, out)
			if !slices.Equal(got, want) {
				t.Errorf("manifest:\n%s\nunsquashfs:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if len(want) != len(files)+4 { // the files, two directories, a symlink, the store path
				t.Errorf("unsquashfs extracted %d entries", len(want))
			}
		})
	}
}

// writeStore writes a SquashFS of the store path sp at img with gonixiso's writer.
func writeStore(t *testing.T, img, sp string) {
	t.Helper()
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := squash.NewWriter(f, squash.Options{BlockSize: 4096, Compression: squash.Compression{Level: 3, PureGo: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := livestore.AddRoot(w, 0); err != nil {
		t.Fatal(err)
	}
	if err := livestore.AddPath(w, sp, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// extracted lists the tree unsquashfs extracted at root as Manifest lists a SquashFS's entries
// under StoreDir, sorted by path bytewise.
func extracted(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		path := liveiso.StoreDir + "/" + filepath.ToSlash(rel)
		var typ, sum, target string
		var size int64
		switch {
		case fi.Mode().IsRegular():
			typ, size = "file", fi.Size()
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum = fmt.Sprintf("%x", sha256.Sum256(b))
		case fi.IsDir():
			typ = "directory"
		case fi.Mode()&fs.ModeSymlink != 0:
			typ = "symlink"
			if target, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unexpected type %v", p, fi.Mode().Type())
		}
		out = append(out, fmt.Sprintf("%q %s %04o %d %s %q", path, typ, fi.Mode().Perm(), size, sum, target))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Compare(unquoteFirst(a), unquoteFirst(b)) })
	return out
}

// unquoteFirst returns a line's first field, a quoted path, unquoted: lines sort by path bytes.
func unquoteFirst(line string) string {
	var s string
	fmt.Sscanf(line, "%q", &s)
	return s
}

package iso9660_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// Images of other tools, read as an independent reader reads them: bsdtar (libarchive), which
// follows the Linux kernel's Rock Ridge rules, and osirrox, xorriso's own extraction.

// toolLinks lists the symbolic links of an image as bsdtar (-tvf) or isoinfo (-l -R) reads
// them: path -> target.
func toolLinks(t testing.TB, tool, iso string) map[string]string {
	t.Helper()
	var out, dir string
	if tool == "bsdtar" {
		out = run(t, "bsdtar", "-tvf", iso)
	} else {
		out = run(t, "isoinfo", "-l", "-R", "-i", iso)
	}
	links := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if d, ok := strings.CutPrefix(line, "Directory listing of "); ok {
			dir = strings.TrimSpace(d)
			continue
		}
		if !strings.HasPrefix(line, "l") {
			continue
		}
		before, target, ok := strings.Cut(line, " -> ")
		if !ok {
			t.Fatalf("%s line %q", tool, line)
		}
		f := strings.Fields(before)
		links[path.Join("/", dir, f[len(f)-1])] = target
	}
	return links
}

// Symbolic links of every shape a Rock Ridge SL entry records: root components after others
// (//a//b/, which xorriso, genisoimage and grub-mkrescue record as ROOT ROOT a ROOT b), trailing
// and doubled slashes, "." and "..".
var shortTargets = []string{
	"//a//b/", "/a/b", "a//b", "../x/./y", "/", "//", "a/", "///x", ".", "..", "./", "a/./b/../c",
	"/nix/store//x",
}

// Targets long enough to span several SL entries and continuation areas, each entry but the last
// flagged to continue (genisoimage writes such links broken: xorriso, isoinfo and bsdtar read
// them cut short, so only xorriso's images get them).
var longTargets = []string{
	"x/" + strings.Repeat("y", 250) + "//z", strings.Repeat("dir/", 120) + "/end",
	"//" + strings.Repeat("c", 255) + "/" + strings.Repeat("e", 200),
}

// symlinkTree writes a link to each target under dir/d, and returns their paths.
func symlinkTree(t testing.TB, dir string, targets []string) []string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, target := range targets {
		name := fmt.Sprintf("d/link%02d", i)
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
		names = append(names, "/"+name)
	}
	return names
}

// TestSymlinkTargets reads the links of images xorriso and genisoimage make as the Linux kernel
// does (fs/isofs/rock.c, get_symlink_chunk): a component is followed by a slash unless it is a
// root component, is flagged to continue, or ends the last SL entry. The targets are compared
// with bsdtar's reading, which follows the same rule within one SL entry but joins entries
// without the slash, and for the long targets with isoinfo's, which follows the rule across
// entries but drops the slash of a target that ends in a root component ("/" reads as "").
func TestSymlinkTargets(t *testing.T) {
	testsystem.Require(t, "xorriso", "genisoimage", "bsdtar", "isoinfo")
	dir := t.TempDir()
	for _, tool := range []string{"xorriso", "genisoimage"} {
		src := filepath.Join(dir, tool)
		targets := shortTargets
		if tool == "xorriso" {
			targets = append(slices.Clone(targets), longTargets...)
		}
		names := symlinkTree(t, src, targets)
		iso := filepath.Join(dir, tool+".iso")
		if tool == "xorriso" {
			run(t, "xorriso", "-outdev", iso, "-map", src, "/", "-commit")
		} else {
			run(t, "genisoimage", "-quiet", "-R", "-o", iso, src)
		}
		bsdtar, isoinfo := toolLinks(t, "bsdtar", iso), toolLinks(t, "isoinfo", iso)
		got := entries(t, openImage(t, iso))
		for i, name := range names {
			e := got[name]
			if e == nil || e.Mode.Type() != fs.ModeSymlink {
				t.Errorf("%s: %s: read as %+v", tool, name, e)
				continue
			}
			want, oracle := bsdtar[name], "bsdtar"
			if i >= len(shortTargets) {
				want, oracle = isoinfo[name], "isoinfo"
			}
			if e.Link != want {
				t.Errorf("%s: %s -> %q, %s says %q", tool, name, e.Link, oracle, want)
			}
		}
		if bsdtar["/d/link00"] != "//a//b" {
			t.Errorf("%s: bsdtar reads //a//b/ as %q", tool, bsdtar["/d/link00"])
		}
	}
}

// extracted lists a tree that a tool extracted to dir as the package's reader lists entries: path
// -> ls-style mode, size, link target, contents' hash.
func extracted(t testing.TB, dir string) map[string]want {
	t.Helper()
	out := map[string]want{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		name := path.Join("/", filepath.ToSlash(rel))
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		w := want{mode: modeString(fi.Mode())}
		switch {
		case fi.Mode().IsRegular():
			w.size, w.sum = fi.Size(), fileSum(t, p)
		case fi.Mode()&fs.ModeSymlink != 0:
			w.link, _ = os.Readlink(p)
		}
		out[name] = w
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readTree lists the tree ReadTree reads as extracted lists an extracted one.
func readTree(t testing.TB, iso string) map[string]want {
	t.Helper()
	im := openImage(t, iso)
	tree, err := im.ReadTree()
	if err != nil {
		t.Fatalf("%s: %v", iso, err)
	}
	out := map[string]want{}
	for _, e := range tree.Entries() {
		w := want{mode: modeString(e.Mode), link: e.Link}
		if e.Mode.IsRegular() {
			f, err := im.Open(e)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(readAll(t, f))
			w.size, w.sum = e.Size, hex.EncodeToString(sum[:])
		}
		out[e.Path] = w
	}
	return out
}

// compareTrees reports the differences between a tree read and a tree extracted by a tool.
func compareTrees(t testing.TB, what string, got, want map[string]want) {
	t.Helper()
	for _, p := range sortedKeys(want) {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: %s %+v is missing", what, p, want[p])
		} else if g != want[p] {
			t.Errorf("%s: %s reads %+v, extracted %+v", what, p, g, want[p])
		}
	}
	for _, p := range sortedKeys(got) {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s %+v was not extracted", what, p, got[p])
		}
	}
}

// TestTreeWithoutRockRidge reads images without Rock Ridge as the Linux kernel mounts them
// (fs/isofs/inode.c): the Joliet tree's names when there is one, else the ISO 9660 names without
// their version, and mode 0555 for files and directories alike. osirrox extracts them the same
// way; the trees are compared with its extraction.
func TestTreeWithoutRockRidge(t *testing.T) {
	testsystem.Require(t, "xorriso", "genisoimage", "osirrox")
	src := t.TempDir()
	for name, data := range map[string]string{
		"LibCDIO/Readme.Long-Name.txt":        "hello\n",
		"LibCDIO/Sub Dir/file with spaces.c":  "int main;\n",
		"été/日本語.txt":                         "utf-8\n",
		"lower":                               "z",
		"a-name-longer-than-thirty-one-chars": strings.Repeat("long ", 1000),
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
	for _, c := range []struct {
		name   string
		args   []string
		joliet bool
	}{
		{"genisoimage -J", []string{"genisoimage", "-quiet", "-J", "-o"}, true},
		{"xorriso -joliet on -rockridge off", []string{"xorriso", "-joliet", "on", "-rockridge", "off", "-outdev"}, true},
		{"genisoimage", []string{"genisoimage", "-quiet", "-o"}, false},
	} {
		iso := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".iso")
		args := append(slices.Clone(c.args[1:]), iso)
		if c.args[0] == "xorriso" {
			args = append(args, "-map", src, "/", "-commit")
		} else {
			args = append(args, src)
		}
		run(t, c.args[0], args...)
		out := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
		run(t, "osirrox", "-indev", iso, "-extract", "/", out)
		got, want := readTree(t, iso), extracted(t, out)
		compareTrees(t, c.name, got, want)
		if _, ok := got["/LibCDIO/Sub Dir/file with spaces.c"]; ok != c.joliet {
			t.Errorf("%s: Joliet names %v, want %v", c.name, ok, c.joliet)
		}
		for p, w := range got {
			if w.mode != "-r-xr-xr-x" && w.mode != "dr-xr-xr-x" {
				t.Errorf("%s: %s has mode %s, the kernel gives 0555", c.name, p, w.mode)
			}
		}
	}
}

// zisofsTree writes files of the shapes zisofs compresses differently under dir: text of
// several blocks ending in a partial one, incompressible bytes (stored deflate blocks), zeros
// (blocks of no bytes), exactly two 64 KiB blocks, a small and an empty file (which xorriso
// leaves uncompressed), and a hard link.
func zisofsTree(t testing.TB, dir string) {
	t.Helper()
	var text strings.Builder
	for i := 0; text.Len() < 300_000; i++ {
		fmt.Fprintf(&text, "line %d of a text that zlib compresses well\n", i*i%10007)
	}
	random := make([]byte, 200_000)
	for i := range random {
		random[i] = byte(i*i*7 + i>>3*13 + i>>11)
	}
	for name, data := range map[string][]byte{
		"text":         []byte(text.String()),
		"dir/random":   random,
		"dir/zeros":    append(make([]byte, 1<<20), "tail"...),
		"dir/exact":    []byte(text.String()[:128<<10]),
		"small":        []byte("small\n"),
		"empty":        nil,
		"dir/sub/more": []byte(text.String()[1000:90_000]),
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(filepath.Join(dir, "text"), filepath.Join(dir, "dir", "link")); err != nil {
		t.Fatal(err)
	}
}

// TestZisofs reads images whose files xorriso compressed with zisofs (block sizes of 32 KiB and
// 128 KiB), with zisofs2 (1 MiB blocks; ZF entries, and Z2 entries), and that genisoimage -z made
// of a tree compressed by mkzftree: sizes and contents are the uncompressed ones that osirrox
// extracts.
func TestZisofs(t *testing.T) {
	testsystem.Require(t, "xorriso", "osirrox", "genisoimage", "mkzftree")
	src := filepath.Join(t.TempDir(), "src")
	zisofsTree(t, src)
	dir := t.TempDir()
	compressed := filepath.Join(dir, "mkzftree")
	run(t, "mkzftree", src, compressed)
	for _, c := range []struct{ name, params string }{
		{"zisofs 32k", "block_size=32k"},
		{"zisofs 128k", "block_size=128k"},
		{"zisofs2 1m", "version_2=on:block_size_v2=1m"},
		{"zisofs2 Z2", "version_2=on:susp_z2=on"},
		{"mkzftree and genisoimage -z", ""},
	} {
		iso := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".iso")
		if c.params == "" {
			run(t, "genisoimage", "-quiet", "-R", "-z", "-o", iso, compressed)
		} else {
			run(t, "xorriso", "-zisofs", c.params, "-outdev", iso, "-map", src, "/",
				"-set_filter_r", "--zisofs", "/", "--", "-commit")
		}
		out := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
		run(t, "osirrox", "-indev", iso, "-extract", "/", out)
		compareTrees(t, c.name, readTree(t, iso), extracted(t, out))
		// The files are compressed indeed.
		tree, err := openImage(t, iso).ReadTree()
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/text", "/dir/zeros", "/dir/link"} {
			e := tree.Lookup(p)
			var stored int64
			for _, x := range e.Extents {
				stored += int64(x.Size)
			}
			if stored*2 > e.Size {
				t.Errorf("%s: %s stores %d bytes of %d", c.name, p, stored, e.Size)
			}
		}
	}
}

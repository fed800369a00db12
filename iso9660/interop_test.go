package iso9660_test

import (
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

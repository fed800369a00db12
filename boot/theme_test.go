package boot_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/gonixiso/gonixiso/boot"
	"github.com/gonixiso/gonixiso/internal/testsystem"
	"github.com/gonixiso/gonixiso/spec"
)

// TestReadGrubTheme reads the custom configuration's theme (theme.txt and fonts/unicode.pf2, as
// the test flake builds it) and a fixture's: every regular file, sorted, links to files
// included, and the *.pf2 files in any case as fonts.
func TestReadGrubTheme(t *testing.T) {
	f, err := os.Open(testsystem.Spec(t, testsystem.CustomName))
	must(t, err)
	defer f.Close()
	s, err := spec.Read(f)
	must(t, err)
	th, err := boot.ReadGrubTheme(boot.HostStore, *s.ISOImage.GrubTheme)
	must(t, err)
	if th.Dir != *s.ISOImage.GrubTheme || !slices.Equal(th.Files, []string{"fonts/unicode.pf2", "theme.txt"}) ||
		!slices.Equal(th.Fonts, []string{"fonts/unicode.pf2"}) {
		t.Errorf("custom theme %+v", th)
	}

	dir := fixtureTheme(t, filepath.Join(t.TempDir(), "theme"))
	must(t, os.Symlink("a.PF2", filepath.Join(dir, "linked.pf2")))
	link := filepath.Join(t.TempDir(), "link")
	must(t, os.Symlink(dir, link))
	th, err = boot.ReadGrubTheme(boot.HostStore, link)
	must(t, err)
	if want := []string{"a.PF2", "background.png", "fonts/b.pf2", "linked.pf2", "sub/c.pf2", "sub/readme", "theme.txt"}; th.Dir != dir ||
		!slices.Equal(th.Files, want) || !slices.Equal(th.Fonts, []string{"a.PF2", "fonts/b.pf2", "linked.pf2", "sub/c.pf2"}) {
		t.Errorf("fixture theme %+v, want files %q", th, want)
	}
}

// TestReadGrubThemeErrors: what cannot be a theme on the ISO is an error naming it.
func TestReadGrubThemeErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, dir string)
		want   string
	}{
		{"missing", func(t *testing.T, dir string) { must(t, os.RemoveAll(dir)) }, "no such file"},
		{"a file", func(t *testing.T, dir string) {
			must(t, os.RemoveAll(dir))
			write(t, dir, "x")
		}, "is not a folder"},
		{"no theme.txt", func(t *testing.T, dir string) { must(t, os.Remove(filepath.Join(dir, "theme.txt"))) }, "has no theme.txt"},
		{"dangling link", func(t *testing.T, dir string) { must(t, os.Symlink("nowhere", filepath.Join(dir, "x.pf2"))) }, "x.pf2"},
		{"fifo", func(t *testing.T, dir string) { must(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644)) }, "fifo is not a regular file"},
		{"link to a folder", func(t *testing.T, dir string) { must(t, os.Symlink("sub", filepath.Join(dir, "sub2"))) }, "sub2 is not a regular file"},
		{"control character", func(t *testing.T, dir string) { write(t, filepath.Join(dir, "a\nb.pf2"), "") }, "control character"},
		{"too many files", func(t *testing.T, dir string) {
			for i := range 1024 {
				write(t, filepath.Join(dir, "sub", fmt.Sprint(i)), "")
			}
		}, "more than 1024 files"},
		{"too many bytes", func(t *testing.T, dir string) {
			f, err := os.Create(filepath.Join(dir, "big"))
			must(t, err)
			must(t, f.Truncate(64<<20+1))
			must(t, f.Close())
		}, "more than 67108864 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := fixtureTheme(t, filepath.Join(t.TempDir(), "theme"))
			tc.break_(t, dir)
			_, err := boot.ReadGrubTheme(boot.HostStore, dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "GRUB theme") {
				t.Fatalf("error %v, want one about the GRUB theme containing %q", err, tc.want)
			}
		})
	}
}

package liveiso_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonixiso/gonixiso/internal/squashcraft"
	"github.com/gonixiso/gonixiso/iso9660"
	"github.com/gonixiso/gonixiso/liveiso"
	"github.com/gonixiso/gonixiso/squash"
)

// hostileISO writes a NixOS-shaped ISO at name whose SquashFS is sq.
func hostileISO(t testing.TB, name string, sq []byte) {
	t.Helper()
	w, err := iso9660.Create(name, iso9660.Options{VolumeID: "hostile", ModTime: time.Unix(315532800, 0), GUIDSeed: []byte("hostile")})
	if err != nil {
		t.Fatal(err)
	}
	menu := "DEFAULT boot\nLABEL boot\nMENU LABEL NixOS\nLINUX /boot/bzImage\nINITRD /boot/initrd\n"
	w.AddFile(liveiso.IsolinuxConfig, iso9660.Header{Mode: 0o444}, iso9660.FromBytes([]byte(menu)))
	w.AddFile(liveiso.SquashFSPath, iso9660.Header{Mode: 0o444}, iso9660.FromBytes(sq))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// hostilePair writes the ISO of a hostile shape, and another whose SquashFS differs from it in
// its superblock's time only, for Diff to compare every file.
func hostilePair(t testing.TB, s squashcraft.Shape) (a, b string) {
	t.Helper()
	dir := t.TempDir()
	sq := s.Build(1)
	a, b = filepath.Join(dir, "a.iso"), filepath.Join(dir, "b.iso")
	hostileISO(t, a, sq)
	sq[8] ^= 1 // the superblock's modification time
	hostileISO(t, b, sq)
	return a, b
}

// hostileTools are the three tools, run on a hostile ISO a (and b for Diff).
var hostileTools = []struct {
	name string
	run  func(a, b string) error
}{
	{"inspect", func(a, _ string) error { _, err := liveiso.Inspect(context.Background(), a); return err }},
	{"manifest", func(a, _ string) error { _, err := liveiso.Manifest(context.Background(), a); return err }},
	{"diff", func(a, b string) error { _, err := liveiso.Diff(context.Background(), a, b); return err }},
}

// hostileMemory is what a tool may make the process grow by on any image of up to 64 MiB: the
// target is 256 MiB of RSS in all, binary and runtime included.
const hostileMemory = 192 << 20

// TestHostileImages runs inspect, manifest and diff on ISOs whose SquashFS has the hostile
// shapes of squashcraft (sparse files of a terabyte, a million hard links, directories 2000
// deep, fragment tables pointing thousands of tails at blocks that decode to a megabyte, up to
// 64 MiB of image), with the default limits: each answers, or refuses with an error that wraps
// squash.ErrLimit and names the image, in bounded memory. How long each takes is
// BenchmarkHostileImages's to say (all under 10 s on the development machine: see its
// results in the commit that added it).
func TestHostileImages(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ISOs of up to 64 MiB")
	}
	for _, s := range squashcraft.Hostile() {
		t.Run(s.Name, func(t *testing.T) {
			a, b := hostilePair(t, s)
			for _, tool := range hostileTools {
				var err error
				peak := squashcraft.PeakMemory(func() { err = tool.run(a, b) })
				t.Logf("%s: %s: %d MiB: %v", s.Name, tool.name, peak>>20, shorten(err))
				switch {
				case err == nil:
				case errors.Is(err, squash.ErrLimit) || strings.Contains(err.Error(), "nested deeper than"):
					if !strings.Contains(err.Error(), a) {
						t.Errorf("%s: the error does not name the image: %v", tool.name, shorten(err))
					}
				default:
					t.Errorf("%s: %v: want an answer or a limit's error", tool.name, shorten(err))
				}
				if peak > hostileMemory {
					t.Errorf("%s: %d MiB of memory (at most %d)", tool.name, peak>>20, hostileMemory>>20)
				}
			}
		})
	}
}

// shorten cuts an error's message (the deep shapes' paths are long) for the test's log.
func shorten(err error) string {
	if err == nil {
		return "ok"
	}
	s := err.Error()
	if len(s) > 400 {
		s = s[:200] + fmt.Sprintf("...(%d bytes)...", len(s)-400) + s[len(s)-200:]
	}
	return s
}

// BenchmarkHostileImages times inspect, manifest and diff on each hostile shape (see
// TestHostileImages), to the answer or the refusal.
func BenchmarkHostileImages(b *testing.B) {
	for _, s := range squashcraft.Hostile() {
		x, y := hostilePair(b, s)
		for _, tool := range hostileTools {
			b.Run(s.Name+"/"+tool.name, func(b *testing.B) {
				for b.Loop() {
					tool.run(x, y)
				}
			})
		}
	}
}

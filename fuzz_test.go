package gonixiso_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gonixiso/gonixiso"
	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/iso9660"
	"github.com/gonixiso/gonixiso/squash"
)

// tinyStorePath is the store path of the images writeTinyISO makes.
const tinyStorePath = "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello"

// writeTinyISO writes a small NixOS-shaped ISO at name: an isolinux menu and a SquashFS with a
// registration and one store path, whose share/hello.txt holds text.
func writeTinyISO(name, text string) error {
	dir := filepath.Dir(name)
	sqf, err := os.CreateTemp(dir, "tiny-*.squashfs")
	if err != nil {
		return err
	}
	defer os.Remove(sqf.Name())
	defer sqf.Close()
	sum := sha256.Sum256([]byte(text))
	reg := fmt.Sprintf("%s\nsha256:%s\n%d\n\n0\n", tinyStorePath, closure.EncodeNix32(sum[:]), 112+len(text))
	sw, err := squash.NewWriter(sqf, squash.Options{ModTime: 315532800, Workers: 1})
	if err != nil {
		return err
	}
	base := filepath.Base(tinyStorePath)
	for _, e := range []struct {
		hdr  squash.Header
		data string
	}{
		{squash.Header{Name: ".", Mode: fs.ModeDir | 0o755}, ""},
		{squash.Header{Name: gonixiso.RegistrationName, Mode: 0o444, Size: int64(len(reg))}, reg},
		{squash.Header{Name: base, Mode: fs.ModeDir | 0o555, ModTime: 1}, ""},
		{squash.Header{Name: base + "/share", Mode: fs.ModeDir | 0o555, ModTime: 1}, ""},
		{squash.Header{Name: base + "/share/hello.txt", Mode: 0o444, ModTime: 1, Size: int64(len(text))}, text},
		{squash.Header{Name: base + "/share/link", Mode: fs.ModeSymlink | 0o777, ModTime: 1, Linkname: "hello.txt"}, ""},
	} {
		if err := sw.WriteHeader(&e.hdr); err != nil {
			return err
		}
		if e.hdr.Mode.IsRegular() {
			if _, err := sw.Write([]byte(e.data)); err != nil {
				return err
			}
		}
	}
	if err := sw.Close(); err != nil {
		return err
	}
	src, err := iso9660.FromFile(sqf.Name())
	if err != nil {
		return err
	}
	w, err := iso9660.Create(name, iso9660.Options{VolumeID: "tiny-x86_64", Publisher: "nixos", Application: "nixos",
		ModTime: time.Unix(315532800, 0), Joliet: true, GUIDSeed: []byte("tiny")})
	if err != nil {
		return err
	}
	menu := "DEFAULT boot\nLABEL boot\nMENU LABEL NixOS tiny\nLINUX /boot/bzImage\nAPPEND init=/init root=LABEL=tiny-x86_64\nINITRD /boot/initrd\n"
	w.AddFile(gonixiso.IsolinuxConfig, iso9660.Header{Mode: 0o444}, iso9660.FromBytes([]byte(menu)))
	w.AddFile("/version.txt", iso9660.Header{Mode: 0o444}, iso9660.FromBytes([]byte("25.05")))
	w.AddFile(gonixiso.SquashFSPath, iso9660.Header{Mode: 0o444}, src)
	return w.Close()
}

// FuzzImage feeds Inspect, Manifest and Diff images that are mutations of a small NixOS-shaped
// ISO: they return errors, never panic, and on a readable image agree with each other.
func FuzzImage(f *testing.F) {
	dir := f.TempDir()
	seed := filepath.Join(dir, "seed.iso")
	if err := writeTinyISO(seed, "hello, world\n"); err != nil {
		f.Fatal(err)
	}
	data, err := os.ReadFile(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		name := filepath.Join(t.TempDir(), "fuzz.iso")
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		ins, errI := gonixiso.Inspect(ctx, name)
		_, errM := gonixiso.Manifest(ctx, name)
		rep, errD := gonixiso.Diff(ctx, name, seed)
		if errI == nil && ins.Size != int64(len(b)) {
			t.Errorf("Inspect says %d bytes of %d", ins.Size, len(b))
		}
		if errD == nil && rep.Identical != bytes.Equal(b, data) {
			t.Errorf("Diff says identical %v", rep.Identical)
		}
		_ = errM
	})
}

// FuzzMenus feeds the menu parsers any text.
func FuzzMenus(f *testing.F) {
	f.Add([]byte("LABEL a\nMENU LABEL A\nLINUX /k\nAPPEND x=1\nMENU BEGIN s\nLABEL b\nMENU END\n"))
	f.Add([]byte("submenu 'x' {\nmenuentry \"a\\\"b\" --id i {\n linux /k a 'b c'\n initrd /i\n}\n}\n}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, e := range append(gonixiso.ParseIsolinux(b), gonixiso.ParseGrub(b)...) {
			if len(e.Title)+len(e.Kernel)+len(e.Initrd)+len(e.Params) > 2*len(b) {
				t.Errorf("entry %+v longer than its input", e)
			}
		}
	})
}

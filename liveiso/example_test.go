package liveiso_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/gonixiso/gonixiso/liveiso"
)

// Inspect describes an image: its volume, menus, SquashFS and store paths.
func ExampleInspect() {
	dir, err := os.MkdirTemp("", "inspect")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	iso := filepath.Join(dir, "tiny.iso")
	if err := writeTinyISO(iso, "hello, world\n"); err != nil {
		log.Fatal(err)
	}

	ins, err := liveiso.Inspect(context.Background(), iso)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("volume:", ins.Primary.VolumeID, ins.Primary.Created)
	for _, e := range ins.Boot.Isolinux {
		fmt.Printf("isolinux: %s %q %s %s\n", e.Label, e.Title, e.Kernel, e.Params)
	}
	s := ins.SquashFS
	fmt.Printf("squashfs: %s, %d-byte blocks, %d files, registered %v\n", s.Compression, s.BlockSize, s.Files, s.Registered)
	for _, p := range ins.StorePaths {
		fmt.Println("store path:", p.Path, p.Size, p.Files, p.NarHash)
	}
	// Output:
	// volume: tiny-x86_64 1980-01-01 00:00:00 +0000 UTC
	// isolinux: boot "NixOS tiny" /boot/bzImage init=/init root=LABEL=tiny-x86_64
	// squashfs: zstd, 1048576-byte blocks, 2 files, registered true
	// store path: /nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello 13 1 sha256:0830jxydl86c7qf54zx9mvfn73vdsvfyksy44bvxnvd0c8vzjgw5
}

// Diff says how two images differ, from the top down; here in one store file.
func ExampleDiff() {
	dir, err := os.MkdirTemp("", "diff")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	a, b := filepath.Join(dir, "a.iso"), filepath.Join(dir, "b.iso")
	if err := writeTinyISO(a, "hello, world\n"); err != nil {
		log.Fatal(err)
	}
	if err := writeTinyISO(b, "hello, World\n"); err != nil {
		log.Fatal(err)
	}

	rep, err := liveiso.Diff(context.Background(), a, b)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("identical:", rep.Identical)
	for _, d := range rep.Differences {
		if d.Level == liveiso.LevelStorePath || d.Level == liveiso.LevelFile {
			fmt.Printf("%s %s: %s\n", d.Level, d.Path, d.Message)
		}
	}
	// Output:
	// identical: false
	// storepath /nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello: NAR hash sha256:0830jxydl86c7qf54zx9mvfn73vdsvfyksy44bvxnvd0c8vzjgw5 → sha256:0r96shn910qb4rh50aqjkvhp12w2ysb3cks1bv7hrks78gfqpj62 (nix-path-registration)
	// file /nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello/share/hello.txt: contents differ from byte 7
}

// Manifest lists every entry of the ISO tree and of the SquashFS, sorted by path.
func ExampleManifest() {
	dir, err := os.MkdirTemp("", "manifest")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	iso := filepath.Join(dir, "tiny.iso")
	if err := writeTinyISO(iso, "hello, world\n"); err != nil {
		log.Fatal(err)
	}

	m, err := liveiso.Manifest(context.Background(), iso)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range m {
		switch {
		case e.Path == liveiso.SquashFSPath || e.Path == "/nix/store/"+liveiso.RegistrationName:
			// Their hashes depend on the SquashFS writer's version.
		case e.Type == "file":
			fmt.Println(e.Path, e.Mode, e.Size, e.SHA256)
		case e.Type == "symlink":
			fmt.Println(e.Path, e.Type, e.Mode, e.Target)
		default:
			fmt.Println(e.Path, e.Type, e.Mode)
		}
	}
	// Output:
	// / directory 0555
	// /isolinux directory 0555
	// /isolinux/isolinux.cfg 0444 127 c95d0323d05f6e0470e79eafd7875802caf2bdbf94bb34b4a8bae7342ebf8c03
	// /nix/store directory 0755
	// /nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello directory 0555
	// /nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello/share directory 0555
	// /nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello/share/hello.txt 0444 13 853ff93762a06ddbf722c4ebe9ddd66d8f63ddaea97f521c3ecc20da7c976020
	// /nix/store/0123456789abcdfghijklmnpqrsvwxyz-hello/share/link symlink 0777 hello.txt
	// /version.txt 0444 5 5e7e8f99153b4c83af20ba1095cf53cd4d24f32f5add3d58add13f722bb74cad
}

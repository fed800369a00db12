package iso9660_test

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/gonixiso/gonixiso/iso9660"
)

// A Writer takes entries by path; Close lays the image out and writes it. Open reads it back.
func Example() {
	var img bytes.Buffer
	w, err := iso9660.NewWriter(&img, iso9660.Options{
		VolumeID:    "nixos-minimal-25.05-x86_64",
		Publisher:   "nixos",
		Application: "nixos",
		ModTime:     time.Unix(315532800, 0), // SOURCE_DATE_EPOCH
		Joliet:      true,
	})
	if err != nil {
		log.Fatal(err)
	}
	w.AddFile("version.txt", iso9660.Header{Mode: 0o444}, iso9660.FromBytes([]byte("25.05")))
	w.AddFile("boot/nix/store/abc-linux-6.12/bzImage", iso9660.Header{Mode: 0o444},
		iso9660.FromBytes(make([]byte, 5000)))
	w.Symlink("boot/bzImage", "nix/store/abc-linux-6.12/bzImage", iso9660.Header{})
	// A producer can write a file's bytes straight into the image.
	w.AddFile("nix-store.squashfs", iso9660.Header{Mode: 0o444}, iso9660.FromFunc(4096, func(w io.Writer) error {
		_, err := w.Write(bytes.Repeat([]byte{'s'}, 4096))
		return err
	}))
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	im, err := iso9660.Open(bytes.NewReader(img.Bytes()), int64(img.Len()))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(im.Primary.VolumeID, im.Primary.Publisher, im.Primary.Created)
	im.Walk(func(e *iso9660.Entry) error {
		if e.Link != "" {
			fmt.Println(e.Mode, e.Size, e.Path, "->", e.Link)
		} else {
			fmt.Println(e.Mode, e.Size, e.Path)
		}
		return nil
	})
	// Output:
	// nixos-minimal-25.05-x86_64 NIXOS 1980-01-01 00:00:00 +0000 UTC
	// dr-xr-xr-x 2048 /
	// dr-xr-xr-x 2048 /boot
	// Lr-xr-xr-x 0 /boot/bzImage -> nix/store/abc-linux-6.12/bzImage
	// dr-xr-xr-x 2048 /boot/nix
	// dr-xr-xr-x 2048 /boot/nix/store
	// dr-xr-xr-x 2048 /boot/nix/store/abc-linux-6.12
	// -r--r--r-- 5000 /boot/nix/store/abc-linux-6.12/bzImage
	// -r--r--r-- 4096 /nix-store.squashfs
	// -r--r--r-- 5 /version.txt
}

// Open reads what the tables of a hybrid image say: the El Torito catalog, the MBR, the GPT.
func ExampleOpen() {
	// A boot file with isolinux's signature at byte 64, and stand-in MBR code.
	isolinux := make([]byte, 4096)
	copy(isolinux[64:], []byte{0xfb, 0xc0, 0x78, 0x70})
	var img bytes.Buffer
	w, _ := iso9660.NewWriter(&img, iso9660.Options{VolumeID: "HYBRID", ModTime: time.Unix(315532800, 0)})
	w.AddFile("isolinux/isolinux.bin", iso9660.Header{}, iso9660.FromBytes(isolinux))
	w.AddFile("boot/efi.img", iso9660.Header{}, iso9660.FromBytes(make([]byte, 1<<20)))
	w.SetBoot(iso9660.Boot{
		BIOS:      "isolinux/isolinux.bin",
		Catalog:   ".boot.cat",
		EFI:       "boot/efi.img",
		HybridMBR: make([]byte, 432),
	})
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	im, err := iso9660.Open(bytes.NewReader(img.Bytes()), int64(img.Len()))
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range im.ElTorito.Entries {
		fmt.Printf("El Torito: platform %#02x, load %d sectors from LBA %d\n", e.Platform, e.SectorCount, e.LBA)
	}
	for i, p := range im.MBR.Partitions[:2] {
		fmt.Printf("MBR %d: status %#02x type %#02x start %d sectors %d\n", i+1, p.Status, p.Type, p.Start, p.Sectors)
	}
	for _, p := range im.GPT.Partitions {
		fmt.Printf("GPT %d: %s %s %d-%d\n", p.Index, p.Name, p.Type, p.FirstLBA, p.LastLBA)
	}
	fmt.Println(img.Len()%(1<<20) == 0, im.GPT.Header.HeaderCRCValid, im.GPT.Backup.EntriesCRCValid)
	// Output:
	// El Torito: platform 0x00, load 4 sectors from LBA 538
	// El Torito: platform 0xef, load 2048 sectors from LBA 26
	// MBR 1: status 0x80 type 0x00 start 0 sectors 4096
	// MBR 2: status 0x00 type 0xef start 104 sectors 2048
	// GPT 1: ISOHybrid EBD0A0A2-B9E5-4433-87C0-68B6B72699C7 0-4031
	// GPT 2: ISOHybrid1 EBD0A0A2-B9E5-4433-87C0-68B6B72699C7 104-2151
	// true true true
}

// ReadTree reads the tree an operating system mounts; Lookup finds an entry and Open reads its
// data, here the last bytes of a file through the io.ReaderAt.
func ExampleImage_ReadTree() {
	var img bytes.Buffer
	w, _ := iso9660.NewWriter(&img, iso9660.Options{VolumeID: "TREE", ModTime: time.Unix(315532800, 0)})
	w.AddFile("boot/grub/grub.cfg", iso9660.Header{Mode: 0o444}, iso9660.FromBytes([]byte("set timeout=10\n")))
	w.AddFile("nix-store.squashfs", iso9660.Header{Mode: 0o444}, iso9660.FromBytes(bytes.Repeat([]byte("hsqs"), 1024)))
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	im, err := iso9660.Open(bytes.NewReader(img.Bytes()), int64(img.Len()))
	if err != nil {
		log.Fatal(err)
	}
	tree, err := im.ReadTree()
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range tree.Entries() {
		fmt.Println(e.Mode, e.Size, e.Path)
	}
	e := tree.Lookup("/nix-store.squashfs")
	f, err := im.Open(e)
	if err != nil {
		log.Fatal(err)
	}
	tail := make([]byte, 8)
	if _, err := f.ReadAt(tail, f.Size()-8); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s at sector %d: ...%s\n", e.Path, e.Extents[0].LBA, tail)
	fmt.Println(tree.FileAt(e.Extents[0].LBA).Path)
	// Output:
	// dr-xr-xr-x 2048 /
	// dr-xr-xr-x 2048 /boot
	// dr-xr-xr-x 2048 /boot/grub
	// -r--r--r-- 15 /boot/grub/grub.cfg
	// -r--r--r-- 4096 /nix-store.squashfs
	// /nix-store.squashfs at sector 25: ...hsqshsqs
	// /nix-store.squashfs
}

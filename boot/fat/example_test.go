package fat_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"log"
	"time"

	"github.com/gonixiso/gonixiso/boot/fat"
)

// An EFI system partition image like the one in a NixOS ISO, read back.
func Example() {
	var img bytes.Buffer
	w := fat.NewWriter(&img, fat.Options{
		Size:     3 << 20,
		Label:    "EFIBOOT",
		VolumeID: 0x12345678,
		ModTime:  time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC),
	})
	for _, file := range []struct{ name, content string }{
		{"EFI/BOOT/BOOTX64.EFI", "MZ..."},
		{"EFI/BOOT/grub.cfg", "set timeout=10\n"},
		{"EFI/BOOT/refind_x64.efi", "MZ..."}, // a long name
	} {
		f, err := w.Create(file.name)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Fprint(f, file.content)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	r, err := fat.NewReader(bytes.NewReader(img.Bytes()), int64(img.Len()))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s FAT16=%v %d clusters of %d bytes, serial %04X-%04X\n",
		r.Label, r.FAT16, r.Clusters, r.ClusterSize, r.VolumeID>>16, r.VolumeID&0xFFFF)
	fs.WalkDir(r, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == "." {
			return err
		}
		info, _ := d.Info()
		fmt.Printf("%-24s %7d %s\n", path, info.Size(), info.ModTime().Format(time.DateTime))
		return nil
	})
	// Output:
	// EFIBOOT FAT16=false 3046 clusters of 1024 bytes, serial 1234-5678
	// EFI                            0 1980-01-01 00:00:00
	// EFI/BOOT                       0 1980-01-01 00:00:00
	// EFI/BOOT/BOOTX64.EFI           5 1980-01-01 00:00:00
	// EFI/BOOT/grub.cfg             15 1980-01-01 00:00:00
	// EFI/BOOT/refind_x64.efi        5 1980-01-01 00:00:00
}

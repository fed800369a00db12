// Package fat writes and reads FAT12 and FAT16 volumes: the EFI system partition image
// (efi.img) that a NixOS ISO carries for UEFI boot, from a CD through El Torito and from a USB
// stick through the partition tables.
//
// A Writer takes files and directories by path and lays them out deterministically: entries of
// every directory sorted by name, each file and directory in one contiguous run of clusters, in
// a depth-first walk; every date is Options.ModTime; the volume serial number and label are
// options; the formatter's name is "GONIXISO". The same options and files give the same bytes,
// whatever order they were added in. Names that fit 8.3 in one case per part are stored as
// short names with Windows NT's case bits (as mtools and Linux do); any other name gets VFAT
// long name entries and a generated basis~n short name.
//
// The size of the image is the caller's choice and decides the FAT type, as in Microsoft's
// "FAT: General Overview of On-Disk Format" (fatgen103), whose cluster count is the only thing
// that tells the types apart: up to 8400 sectors (4.1 MiB) the volume is FAT12 with the
// smallest clusters that keep it FAT12; above that FAT16 with fatgen103's cluster sizes (1 KiB
// up to 16 MiB, 2 KiB up to 128 MiB, ...), doubled where needed; no volume comes within 16
// clusters of a type boundary, where implementations disagree. FAT32 is not written: an ESP
// image is a few megabytes, and a FAT32 volume needs at least 65525 clusters (32 MiB and more).
// The layout is one reserved sector, two FATs, a 512-entry root directory and 512-byte sectors;
// the BPB geometry is 64 heads of 32 sectors, as on isohybrid images.
//
// A Reader reads FAT12 and FAT16 volumes, this package's and other formatters', as an fs.FS
// with long names. It is meant for untrusted bytes: it checks every offset and cluster, refuses
// cluster chains that loop or leave the volume, and directory trees that loop back, reach a
// directory twice, put a cluster in two chains or nest deeper than 64 levels; it allocates and
// reads no more than the image's size, and is fuzzed. Short-name bytes above 0x7F, whose meaning
// depends on a DOS code page, are read as Latin-1.
//
// # Why not go-diskfs
//
// github.com/diskfs/go-diskfs v1.9.4 has FAT12 and FAT16 writers with a reproducible mode.
// Measured on this project's ESP (BOOTX64.EFI of 1081344 bytes and grub.cfg) at nixpkgs' size
// of 3 MiB: its fat16 refuses the size ("computed cluster count 3042 too small for FAT16"), so
// the caller must pick fat12 or fat16 by size; fat12 gives identical bytes twice only with
// SOURCE_DATE_EPOCH in the process environment (its dates come from util/timestamp, which
// reads the variable or the clock); fsck.fat reports "Reclaimed 1 unused cluster" (one cluster
// leaked); the serial number is 0 in reproducible mode, so nixpkgs' 1234-5678 cannot be had;
// the OEM name is "godiskfs"; and it writes through a seekable file backend. This package is
// about as much code as the glue and workarounds would be, has no dependency, takes the time
// and the serial number as options, leaks nothing (fsck.fat -n -v is silent on every test
// image), and writes in one sequential pass.
package fat

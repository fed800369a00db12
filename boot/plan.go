package boot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/gonixiso/gonixiso/boot/fat"
)

// A Plan is what boot contributes to an ISO: files to place in it, and how the ISO boots.
// It is data; the ISO writer turns it into an image.
type Plan struct {
	// VolumeID is the volume id the ISO must have: the initrd finds the ISO by it.
	VolumeID string
	// Files are the files to place in the ISO, sorted by Path. Their folders are implied.
	Files []File
	// Boot says which of the files boot the ISO.
	Boot BootConfig
	// Menus are the rendered menus, which Files also hold.
	Menus *Menus
	// Loaders are the bootloader files the plan uses, and where they came from.
	Loaders *Loaders
	// Warnings say what the plan packs that will not boot as the user may expect: with
	// Options.AllowNotLive, why a configuration cannot boot live from the ISO (each the text
	// of the ErrNotLive error it would otherwise have been).
	Warnings []string
}

// A File is one file of the ISO: a file of the Store, or bytes made by boot.
type File struct {
	// Path is the file's absolute path in the ISO, clean: "/isolinux/isolinux.bin".
	Path string
	// Source is the file of the Store whose bytes the file has, as the system names it
	// ("/nix/store/…-linux/bzImage"); "" for Data.
	Source string
	// Host is where Source is on this machine (Store.HostPath): the file to copy.
	Host string
	// Data are the file's bytes when Source is "".
	Data []byte
	// Mode holds the permission bits: the source's, or 0444 for generated files.
	Mode fs.FileMode
}

// Open opens the file's bytes.
func (f *File) Open() (io.ReadCloser, error) {
	if f.Source == "" {
		return io.NopCloser(bytes.NewReader(f.Data)), nil
	}
	return os.Open(f.Host)
}

// BootConfig says, in boot's terms, how the ISO boots: El Torito entries for BIOS and UEFI and
// the isohybrid MBR, as nixpkgs' xorriso flags make them.
type BootConfig struct {
	// BIOSBootFile is the El Torito BIOS boot image (no emulation, 4 sectors loaded, with a
	// boot info table): "/isolinux/isolinux.bin", or "" without BIOS boot.
	BIOSBootFile string
	// Catalog is the path of the El Torito boot catalog: "/.boot.cat".
	Catalog string
	// HybridMBR is the 432 bytes of isohybrid MBR boot code (syslinux's isohdpfx.bin), or nil
	// without BIOS boot or with Options.NoUSB (an image that boots from a CD only).
	HybridMBR []byte
	// EFIImage is the El Torito UEFI boot image, the EFI system partition, which isohybrid
	// also points the MBR and GPT at: "/boot/efi.img", or "" without UEFI boot.
	EFIImage string
	// Marker is the file GRUB finds the ISO volume by, or "" without UEFI boot.
	Marker string
}

// The EFI system partition's identity, as nixpkgs' mkfs.vfat -i 12345678 -n EFIBOOT.
const (
	espLabel    = "EFIBOOT"
	espVolumeID = 0x12345678
)

// NewPlan reads the bootloaders from st, runs grub-mkimage and builds the EFI system
// partition, and returns the plan of sys's boot files, every one of them read through st. Only
// x86_64-linux systems are supported. A system whose shown configurations cannot boot live
// from the ISO is refused with an error wrapping ErrNotLive, unless Options.AllowNotLive.
func NewPlan(ctx context.Context, st Store, sys *System, opts Options) (*Plan, error) {
	st = withAbsPaths(st)
	for _, s := range append([]*System{sys}, sys.Specialisations...) {
		if s.Platform != "" && s.Platform != "x86_64-linux" {
			return nil, fmt.Errorf("boot: %s is a %s system; boot makes x86_64 boot files only", s.Toplevel, s.Platform)
		}
	}
	menus, err := Render(sys, opts)
	if err != nil {
		return nil, err
	}
	var warnings []string
	for _, s := range sys.configs() {
		if !opts.shown(s) {
			continue // no entry boots it
		}
		err := checkLive(st, s, menus.VolumeID)
		if err != nil && !(opts.AllowNotLive && errors.Is(err, ErrNotLive)) {
			return nil, err
		}
		if err != nil {
			warnings = append(warnings, err.Error())
		}
	}
	loaders, err := FindLoaders(st, sys, opts)
	if err != nil {
		return nil, err
	}
	p := &Plan{VolumeID: menus.VolumeID, Menus: menus, Loaders: loaders, Boot: BootConfig{Catalog: CatalogPath}, Warnings: warnings}
	files := &fileSet{st: st, files: map[string]File{}}

	// version.txt and the kernel and initrd of every configuration the menus show, at
	// /boot/<store path>; the configurations often share them.
	files.add(File{Path: VersionPath, Data: []byte(sys.Label)})
	for _, s := range sys.configs() {
		if opts.shown(s) {
			files.add(File{Path: path.Join(KernelDir, s.Kernel), Source: s.Kernel})
			files.add(File{Path: path.Join(KernelDir, s.Initrd), Source: s.Initrd})
		}
	}
	if opts.Memtest != "" {
		files.add(File{Path: MemtestPath, Source: opts.Memtest})
	}

	if !opts.NoBIOS {
		// The syslinux folder, then what is generated, which takes the place of any file of
		// the same name there.
		for _, name := range slices.Sorted(maps.Keys(loaders.Syslinux)) {
			files.add(File{Path: IsolinuxDir + "/" + name, Source: loaders.Syslinux[name]})
		}
		files.add(File{Path: IsolinuxConfigPath, Data: menus.Isolinux})
		if opts.SplashImage != "" {
			files.add(File{Path: SplashPath, Source: opts.SplashImage})
		}
		p.Boot.BIOSBootFile = BIOSBootFile
		if !opts.NoUSB {
			if p.Boot.HybridMBR, err = readText(st, loaders.Syslinux[isohybridMBR]); err != nil {
				return nil, fmt.Errorf("boot: %w", err)
			}
			if len(p.Boot.HybridMBR) != hybridMBRSize {
				return nil, fmt.Errorf("boot: %s: want %d bytes of MBR code", loaders.Syslinux[isohybridMBR], hybridMBRSize)
			}
		}
	}

	if !opts.NoUEFI {
		bootx, err := loaders.mkimage(ctx, st, opts.Run, opts.Memo, menus.GrubEmbedded)
		if err != nil {
			return nil, err
		}
		esp, err := buildESP(bootx, menus.Grub, opts.time())
		if err != nil {
			return nil, err
		}
		files.add(File{Path: EFIImagePath, Data: esp})
		files.add(File{Path: MarkerPath, Data: []byte{}})
		files.add(File{Path: BootxPath, Data: bootx})
		files.add(File{Path: GrubConfigPath, Data: menus.Grub})
		files.add(File{Path: GrubFontPath, Source: loaders.GrubFont})
		if menus.Loopback != nil {
			files.add(File{Path: LoopbackConfigPath, Data: menus.Loopback})
		}
		if opts.EFISplashImage != "" {
			files.add(File{Path: EFISplashPath, Source: opts.EFISplashImage})
		}
		if th := opts.GrubTheme; th != nil {
			for _, f := range th.Files {
				files.add(File{Path: GrubThemeDir + "/" + f, Source: th.Dir + "/" + f})
			}
		}
		p.Boot.EFIImage = EFIImagePath
		p.Boot.Marker = MarkerPath
	}
	if files.err != nil {
		return nil, files.err
	}
	p.Files = slices.SortedFunc(maps.Values(files.files), func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return p, nil
}

// fileSet collects a plan's files by ISO path, each with its mode: its source's, or 0444 for
// generated bytes, and where its source is on this machine. A file added at a path that has one
// replaces it. It keeps the first error.
type fileSet struct {
	st    Store
	files map[string]File
	err   error
}

func (s *fileSet) add(f File) {
	f.Mode = 0o444
	if f.Source != "" {
		fi, err := statFile(s.st, f.Source)
		if err == nil {
			f.Host, err = s.st.HostPath(fsName(f.Source))
		}
		if err != nil {
			if s.err == nil {
				s.err = fmt.Errorf("boot: %s: %w", f.Path, err)
			}
			return
		}
		f.Mode = fi.Mode().Perm()
	}
	s.files[f.Path] = f
}

// File returns the plan's file at path, or nil.
func (p *Plan) File(path string) *File {
	i, ok := slices.BinarySearchFunc(p.Files, path, func(f File, path string) int { return strings.Compare(f.Path, path) })
	if !ok {
		return nil
	}
	return &p.Files[i]
}

// ESPSize is the size nixpkgs gives the EFI system partition image for contents bytes of
// files: the contents rounded up to whole MiB, plus 10% for FAT's overhead, rounded down to a
// MiB, plus one MiB (iso-image.nix's efiImg, which measures with du --apparent-size; its
// folders' sizes, which depend on the build's file system, are not counted here).
func ESPSize(contents int64) int64 {
	const mib = 1 << 20
	usage := (contents + mib - 1) / mib * mib
	size := usage * 110 / 100
	return (size/mib + 1) * mib
}

// buildESP makes efi.img: EFI/BOOT/BOOTX64.EFI and EFI/BOOT/grub.cfg on a FAT volume labelled
// EFIBOOT with serial 1234-5678, every date t (or 1980-01-01 for an earlier t, which FAT cannot
// record).
func buildESP(bootx, grubCfg []byte, t time.Time) ([]byte, error) {
	if t.Before(DefaultEpoch) {
		t = DefaultEpoch
	}
	size := ESPSize(int64(len(bootx) + len(grubCfg)))
	var buf bytes.Buffer
	buf.Grow(int(size))
	w := fat.NewWriter(&buf, fat.Options{Size: size, Label: espLabel, VolumeID: espVolumeID, ModTime: t})
	for _, f := range []struct {
		name string
		data []byte
	}{{strings.TrimPrefix(BootxPath, "/"), bootx}, {strings.TrimPrefix(GrubConfigPath, "/"), grubCfg}} {
		fw, err := w.Create(f.name)
		if err != nil {
			return nil, fmt.Errorf("boot: efi.img: %w", err)
		}
		if _, err := fw.Write(f.data); err != nil {
			return nil, fmt.Errorf("boot: efi.img: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("boot: efi.img: %w", err)
	}
	return buf.Bytes(), nil
}

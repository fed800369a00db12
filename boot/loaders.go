package boot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Where bootloader binaries came from.
const (
	FromOption  = "option"  // Options.Syslinux or Options.Grub
	FromClosure = "closure" // a store path of the system, as an installer toplevel carries them
	FromHost    = "host"    // Debian's packages on this machine
)

// Loaders are the bootloader files a plan uses, and where they came from.
type Loaders struct {
	// Syslinux maps names under /isolinux to host files: isolinux.bin, ldlinux.c32, the other
	// .c32 modules and isohdpfx.bin.
	Syslinux map[string]string
	// SyslinuxFrom is FromOption, FromClosure or FromHost, SyslinuxDir the folder.
	SyslinuxFrom, SyslinuxDir string
	// GrubMkimage, GrubModules (the x86_64-efi folder) and GrubFont (unicode.pf2) are GRUB's.
	GrubMkimage, GrubModules, GrubFont string
	// GrubFrom is FromOption, FromClosure or FromHost.
	GrubFrom string
}

// The layout of nixpkgs' packages, below a store path.
const (
	syslinuxShare  = "share/syslinux"
	grubMkimageBin = "bin/grub-mkimage"
	grubTarget     = "x86_64-efi"
	grubLib        = "lib/grub/" + grubTarget
	grubFontFile   = "share/grub/unicode.pf2"
)

// The layout of Debian's isolinux, syslinux-common, grub-common and grub-efi-amd64-bin.
// Tests replace them to see the fallbacks fail.
var (
	hostIsolinux        = "/usr/lib/ISOLINUX"              // isolinux.bin, isohdpfx.bin
	hostSyslinuxModules = "/usr/lib/syslinux/modules/bios" // *.c32
	hostGrubMkimage     = "/usr/bin/grub-mkimage"
	hostGrubModules     = "/usr/lib/grub/" + grubTarget
	hostGrubFont        = "/usr/share/grub/unicode.pf2"
)

// Files isolinux needs at run time for nixpkgs' menu (UI vesamenu.c32), and the isohybrid MBR.
const (
	isolinuxBin  = "isolinux.bin"
	isohybridMBR = "isohdpfx.bin"
)

var syslinuxRequired = []string{isolinuxBin, "ldlinux.c32", "vesamenu.c32", "libcom32.c32", "libutil.c32", isohybridMBR}

// grubModules is iso-image.nix's module list for BOOTX64.EFI, in its order; efi_uga is added
// where the GRUB build has it.
var grubModules = []string{
	"fat", "iso9660", "part_gpt", "part_msdos",
	"normal", "boot", "linux", "configfile", "loopback", "chain", "halt",
	"efifwsetup", "efi_gop", "ls",
	"search", "search_label", "search_fs_uuid", "search_fs_file", "echo",
	"serial",
	"gfxmenu", "gfxterm", "gfxterm_background", "gfxterm_menu", "test", "loadenv", "all_video", "videoinfo",
	"png",
}

const optionalGrubModule = "efi_uga"

// FindLoaders finds the bootloader files for sys: in the options' folders if given, else in the
// closure, else on the host. Only what opts asks for is looked for.
func FindLoaders(sys *System, opts Options) (*Loaders, error) {
	l := &Loaders{}
	if !opts.NoBIOS {
		if err := l.findSyslinux(sys, opts); err != nil {
			return nil, err
		}
	}
	if !opts.NoUEFI {
		if err := l.findGrub(sys, opts); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// closureCandidates are the store paths to look in, in order: the extra dependencies (where
// iso-image.nix puts grub2_efi), the toplevel's sw (where systemPackages puts syslinux), then
// the closure, sorted.
func closureCandidates(sys *System, opts Options) []string {
	c := slices.Clone(sys.ExtraDependencies)
	c = append(c, filepath.Join(sys.Toplevel, "sw"))
	paths := slices.Clone(opts.StorePaths)
	slices.Sort(paths)
	return append(c, paths...)
}

func (l *Loaders) findSyslinux(sys *System, opts Options) error {
	if opts.Syslinux != "" {
		return l.useSyslinux(FromOption, opts.Syslinux)
	}
	for _, p := range closureCandidates(sys, opts) {
		dir := filepath.Join(p, syslinuxShare)
		if isFile(filepath.Join(dir, isolinuxBin)) {
			return l.useSyslinux(FromClosure, dir)
		}
	}
	if isFile(filepath.Join(hostIsolinux, isolinuxBin)) {
		files := map[string]string{
			isolinuxBin:  filepath.Join(hostIsolinux, isolinuxBin),
			isohybridMBR: filepath.Join(hostIsolinux, isohybridMBR),
		}
		mods, err := filepath.Glob(filepath.Join(hostSyslinuxModules, "*.c32"))
		if err != nil {
			return err
		}
		for _, m := range mods {
			files[filepath.Base(m)] = m
		}
		return l.setSyslinux(FromHost, hostIsolinux, files)
	}
	return fmt.Errorf("boot: no syslinux: none of the store paths has %s/%s, and the host has no %s (install isolinux and syslinux-common, or set Options.Syslinux)",
		syslinuxShare, isolinuxBin, filepath.Join(hostIsolinux, isolinuxBin))
}

// useSyslinux takes every regular file in dir, as nixpkgs grafts ${syslinux}/share/syslinux
// onto /isolinux.
func (l *Loaders) useSyslinux(from, dir string) error {
	dir, err := filepath.EvalSymlinks(dir) // sw/share/syslinux is a link into the syslinux package
	if err != nil {
		return fmt.Errorf("boot: syslinux: %w", err)
	}
	files := map[string]string{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if isFile(p) {
			rel, err := filepath.Rel(dir, p)
			files[filepath.ToSlash(rel)] = p
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boot: syslinux: %w", err)
	}
	return l.setSyslinux(from, dir, files)
}

func (l *Loaders) setSyslinux(from, dir string, files map[string]string) error {
	var missing []string
	for _, f := range syslinuxRequired {
		if files[f] == "" || !isFile(files[f]) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("boot: syslinux in %s (%s) lacks %s", dir, from, strings.Join(missing, ", "))
	}
	if fi, err := os.Stat(files[isohybridMBR]); err != nil || fi.Size() != hybridMBRSize {
		return fmt.Errorf("boot: %s: want %d bytes of MBR code", files[isohybridMBR], hybridMBRSize)
	}
	l.Syslinux, l.SyslinuxFrom, l.SyslinuxDir = files, from, dir
	return nil
}

// hybridMBRSize is the size of syslinux's isohdpfx.bin: MBR boot code up to the disk signature.
const hybridMBRSize = 432

func (l *Loaders) findGrub(sys *System, opts Options) error {
	if opts.Grub != "" {
		return l.useGrub(FromOption, filepath.Join(opts.Grub, grubMkimageBin),
			filepath.Join(opts.Grub, grubLib), filepath.Join(opts.Grub, grubFontFile))
	}
	for _, p := range closureCandidates(sys, opts) {
		if isFile(filepath.Join(p, grubMkimageBin)) && isDir(filepath.Join(p, grubLib)) {
			return l.useGrub(FromClosure, filepath.Join(p, grubMkimageBin),
				filepath.Join(p, grubLib), filepath.Join(p, grubFontFile))
		}
	}
	if isFile(hostGrubMkimage) && isDir(hostGrubModules) {
		return l.useGrub(FromHost, hostGrubMkimage, hostGrubModules, hostGrubFont)
	}
	return fmt.Errorf("boot: no GRUB for %s: no store path has %s and %s, and the host has no %s and %s (install grub-common and grub-efi-amd64-bin, or set Options.Grub)",
		grubTarget, grubMkimageBin, grubLib, hostGrubMkimage, hostGrubModules)
}

func (l *Loaders) useGrub(from, mkimage, modules, font string) error {
	var missing []string
	for _, f := range []string{mkimage, font} {
		if !isFile(f) {
			missing = append(missing, f)
		}
	}
	for _, m := range grubModules {
		if p := filepath.Join(modules, m+".mod"); !isFile(p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("boot: GRUB (%s) lacks %s", from, strings.Join(missing, ", "))
	}
	l.GrubMkimage, l.GrubModules, l.GrubFont, l.GrubFrom = mkimage, modules, font, from
	return nil
}

// mkimage makes BOOTX64.EFI with grub-mkimage: iso-image.nix's modules, the prefix /EFI/BOOT,
// and the embedded configuration. grub-mkimage's output depends only on its inputs (its PE
// header's timestamp is a constant, 2015-01-01), which the tests check; it runs with an empty
// environment so that nothing of the host's gets in.
func (l *Loaders) mkimage(ctx context.Context, embedded []byte) ([]byte, error) {
	dir, err := os.MkdirTemp("", "gonixiso-grub-")
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "embedded.cfg")
	out := filepath.Join(dir, "BOOTX64.EFI")
	if err := os.WriteFile(cfg, embedded, 0o644); err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	mods := slices.Clone(grubModules)
	if isFile(filepath.Join(l.GrubModules, optionalGrubModule+".mod")) {
		mods = append(mods, optionalGrubModule)
	}
	args := append([]string{"--directory=" + l.GrubModules, "-o", out, "-p", grubDir, "-O", grubTarget, "-c", cfg}, mods...)
	cmd := exec.CommandContext(ctx, l.GrubMkimage, args...)
	cmd.Env = []string{}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("boot: %s: %v: %s", l.GrubMkimage, err, strings.TrimSpace(stderr.String()))
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("boot: grub-mkimage: %w", err)
	}
	if len(data) == 0 {
		return nil, errors.New("boot: grub-mkimage wrote an empty image")
	}
	return data, nil
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

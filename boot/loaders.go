package boot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Where bootloader binaries came from.
const (
	FromOption  = "option"  // Options.Syslinux or Options.Grub
	FromClosure = "closure" // a store path of the system, as an installer toplevel carries them
	FromHost    = "host"    // Debian's packages on this machine (Options.HostBootloaders)
)

// ErrNoBootloader is wrapped by FindLoaders' errors when a bootloader boot needs is nowhere it
// may look.
var ErrNoBootloader = errors.New("no bootloader")

// Loaders are the bootloader files a plan uses, and where they came from. Their paths are
// paths of the Store they were found in.
type Loaders struct {
	// Syslinux maps names under /isolinux to files: isolinux.bin, ldlinux.c32, the other .c32
	// modules and isohdpfx.bin.
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

// The layout of Debian's isolinux, syslinux-common, grub-common and grub-efi-amd64-bin, used
// with Options.HostBootloaders. Tests replace them to see the fallbacks fail.
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

// HostBootloaderPaths are the host files and folders boot reads with Options.HostBootloaders:
// a caller's Store must show them for that option to work.
func HostBootloaderPaths() []string {
	return []string{hostIsolinux, hostSyslinuxModules, hostGrubMkimage, hostGrubModules, hostGrubFont}
}

// FindLoaders finds the bootloader files for sys in st: in the options' folders if given, else
// in the system's store paths (closureCandidates), else, with Options.HostBootloaders, on this
// machine. Only what opts asks for is looked for.
func FindLoaders(st Store, sys *System, opts Options) (*Loaders, error) {
	st = withAbsPaths(st)
	l := &Loaders{}
	cands := closureCandidates(st, sys, opts)
	if !opts.NoBIOS {
		if err := l.findSyslinux(st, cands, opts); err != nil {
			return nil, err
		}
	}
	if !opts.NoUEFI {
		if err := l.findGrub(st, cands, opts); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// closureCandidates are the store paths to look in, in order: the extra dependencies (where
// iso-image.nix puts grub2_efi), the toplevel's sw, the packages sw/bin links into (where
// systemPackages puts syslinux), then the closure, sorted. The first three come from the
// toplevel alone, so a system finds the same bootloaders whether or not its closure is known
// yet.
func closureCandidates(st Store, sys *System, opts Options) []string {
	c := slices.Clone(sys.ExtraDependencies)
	sw := path.Join(sys.Toplevel, "sw")
	c = append(c, sw)
	if ents, err := fs.ReadDir(st, fsName(sw+"/bin")); err == nil {
		for _, e := range ents {
			target, err := evalSymlinks(st, path.Join(sw, "bin", e.Name()))
			if err != nil || path.Base(path.Dir(target)) != "bin" {
				continue
			}
			if pkg := path.Dir(path.Dir(target)); !slices.Contains(c, pkg) {
				c = append(c, pkg)
			}
		}
	}
	paths := slices.Clone(opts.StorePaths)
	slices.Sort(paths)
	return append(c, paths...)
}

func (l *Loaders) findSyslinux(st Store, cands []string, opts Options) error {
	if opts.Syslinux != "" {
		return l.useSyslinux(st, FromOption, opts.Syslinux)
	}
	for _, p := range cands {
		dir := path.Join(p, syslinuxShare)
		if isFile(st, path.Join(dir, isolinuxBin)) {
			return l.useSyslinux(st, FromClosure, dir)
		}
	}
	if opts.HostBootloaders && isFile(st, path.Join(hostIsolinux, isolinuxBin)) {
		files := map[string]string{
			isolinuxBin:  path.Join(hostIsolinux, isolinuxBin),
			isohybridMBR: path.Join(hostIsolinux, isohybridMBR),
		}
		mods, err := fs.ReadDir(st, fsName(hostSyslinuxModules))
		if err != nil {
			return fmt.Errorf("boot: %w", err)
		}
		for _, m := range mods {
			if strings.HasSuffix(m.Name(), ".c32") {
				files[m.Name()] = path.Join(hostSyslinuxModules, m.Name())
			}
		}
		return l.setSyslinux(st, FromHost, hostIsolinux, files)
	}
	if opts.HostBootloaders {
		return fmt.Errorf("boot: %w: no syslinux for BIOS boot: no store path of the system has %s/%s, and this machine has no %s (install isolinux and syslinux-common)",
			ErrNoBootloader, syslinuxShare, isolinuxBin, path.Join(hostIsolinux, isolinuxBin))
	}
	return fmt.Errorf("boot: %w: no syslinux for BIOS boot: no store path of the system has %s/%s (iso-image.nix adds pkgs.syslinux to the system when isoImage.makeBiosBootable is set)",
		ErrNoBootloader, syslinuxShare, isolinuxBin)
}

// useSyslinux takes every regular file in dir, as nixpkgs grafts ${syslinux}/share/syslinux
// onto /isolinux.
func (l *Loaders) useSyslinux(st Store, from, dir string) error {
	dir, err := evalSymlinks(st, dir) // sw/share/syslinux is a link into the syslinux package
	if err != nil {
		return fmt.Errorf("boot: syslinux: %w", err)
	}
	files := map[string]string{}
	err = fs.WalkDir(st, fsName(dir), func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p := "/" + name; isFile(st, p) {
			files[strings.TrimPrefix(p, dir+"/")] = p
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("boot: syslinux: %w", err)
	}
	return l.setSyslinux(st, from, dir, files)
}

func (l *Loaders) setSyslinux(st Store, from, dir string, files map[string]string) error {
	var missing []string
	for _, f := range syslinuxRequired {
		if files[f] == "" || !isFile(st, files[f]) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("boot: syslinux in %s (%s) lacks %s", dir, from, strings.Join(missing, ", "))
	}
	if fi, err := statFile(st, files[isohybridMBR]); err != nil || fi.Size() != hybridMBRSize {
		return fmt.Errorf("boot: %s: want %d bytes of MBR code", files[isohybridMBR], hybridMBRSize)
	}
	l.Syslinux, l.SyslinuxFrom, l.SyslinuxDir = files, from, dir
	return nil
}

// hybridMBRSize is the size of syslinux's isohdpfx.bin: MBR boot code up to the disk signature.
const hybridMBRSize = 432

func (l *Loaders) findGrub(st Store, cands []string, opts Options) error {
	if opts.Grub != "" {
		return l.useGrub(st, FromOption, path.Join(opts.Grub, grubMkimageBin),
			path.Join(opts.Grub, grubLib), path.Join(opts.Grub, grubFontFile))
	}
	for _, p := range cands {
		if isFile(st, path.Join(p, grubMkimageBin)) && isDir(st, path.Join(p, grubLib)) {
			return l.useGrub(st, FromClosure, path.Join(p, grubMkimageBin),
				path.Join(p, grubLib), path.Join(p, grubFontFile))
		}
	}
	if opts.HostBootloaders && isFile(st, hostGrubMkimage) && isDir(st, hostGrubModules) {
		return l.useGrub(st, FromHost, hostGrubMkimage, hostGrubModules, hostGrubFont)
	}
	if opts.HostBootloaders {
		return fmt.Errorf("boot: %w: no GRUB for %s: no store path of the system has %s and %s, and this machine has no %s and %s (install grub-common and grub-efi-amd64-bin)",
			ErrNoBootloader, grubTarget, grubMkimageBin, grubLib, hostGrubMkimage, hostGrubModules)
	}
	return fmt.Errorf("boot: %w: no GRUB for %s: no store path of the system has %s and %s (iso-image.nix adds grub2_efi to the system's extra-dependencies when isoImage.makeEfiBootable is set)",
		ErrNoBootloader, grubTarget, grubMkimageBin, grubLib)
}

func (l *Loaders) useGrub(st Store, from, mkimage, modules, font string) error {
	var missing []string
	for _, f := range []string{mkimage, font} {
		if !isFile(st, f) {
			missing = append(missing, f)
		}
	}
	for _, m := range grubModules {
		if p := path.Join(modules, m+".mod"); !isFile(st, p) {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("boot: GRUB (%s) lacks %s", from, strings.Join(missing, ", "))
	}
	l.GrubMkimage, l.GrubModules, l.GrubFont, l.GrubFrom = mkimage, modules, font, from
	return nil
}

// maxGrubModules bounds the bytes of GRUB's module folder that mkimage copies: Debian's and
// nixpkgs' x86_64-efi folders hold a few megabytes.
const maxGrubModules = 256 << 20

// mkimage makes BOOTX64.EFI with grub-mkimage: iso-image.nix's modules, the prefix /EFI/BOOT,
// and the embedded configuration. grub-mkimage's output depends only on its inputs (its PE
// header's timestamp is a constant, 2015-01-01), which the tests check; it runs with an empty
// environment so that nothing of the host's gets in. It reads its modules from a copy of the
// module folder made through st, so that a module that links out of the store cannot bring a
// host file into the image, and works in a folder of its own, by relative paths: run runs it
// there (the pipeline's runs a program of the store in a sandbox that sees nothing but the store
// and that folder); without run, it runs as it is.
func (l *Loaders) mkimage(ctx context.Context, st Store, run Runner, memo Memo, embedded []byte) ([]byte, error) {
	const cfg, out = "embedded.cfg", "BOOTX64.EFI"
	mods := slices.Clone(grubModules)
	if isFile(st, path.Join(l.GrubModules, optionalGrubModule+".mod")) {
		mods = append(mods, optionalGrubModule)
	}
	args := append([]string{"--directory=" + grubTarget, "-o", out, "-p", GrubDir, "-O", grubTarget, "-c", cfg}, mods...)
	produce := func() ([]byte, error) {
		dir, err := os.MkdirTemp("", "gonixiso-grub-")
		if err != nil {
			return nil, fmt.Errorf("boot: %w", err)
		}
		defer os.RemoveAll(dir)
		if err := copyFolder(st, l.GrubModules, filepath.Join(dir, grubTarget), maxGrubModules); err != nil {
			return nil, fmt.Errorf("boot: GRUB modules: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, cfg), embedded, 0o644); err != nil {
			return nil, fmt.Errorf("boot: %w", err)
		}
		var stderr bytes.Buffer
		if run != nil {
			err = run(ctx, l.GrubMkimage, args, dir, &stderr)
		} else {
			var bin string
			if bin, err = st.HostPath(fsName(l.GrubMkimage)); err != nil {
				return nil, fmt.Errorf("boot: %w", err)
			}
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Dir, cmd.Env, cmd.Stderr = dir, []string{}, &stderr
			err = cmd.Run()
		}
		if err != nil {
			return nil, fmt.Errorf("boot: %s: %v: %s", l.GrubMkimage, err, strings.TrimSpace(stderr.String()))
		}
		data, err := os.ReadFile(filepath.Join(dir, out))
		if err != nil {
			return nil, fmt.Errorf("boot: grub-mkimage: %w", err)
		}
		if len(data) == 0 {
			return nil, errors.New("boot: grub-mkimage wrote an empty image")
		}
		return data, nil
	}
	if memo == nil {
		return produce()
	}
	key := "grub-mkimage\x00" + strings.Join(args, "\x00") + "\x00" + string(embedded)
	return memo([]string{l.GrubMkimage, l.GrubModules}, key, produce)
}

// Memo is Options.Memo.
type Memo func(paths []string, key string, produce func() ([]byte, error)) ([]byte, error)

// A Runner runs prog, a program of the Store (a path in it, by name), with args, in the host
// folder dir as its current directory and its only writable place, its errors to stderr. The
// pipeline runs the programs a system's closure brings (grub-mkimage) in a sandbox this way.
type Runner func(ctx context.Context, prog string, args []string, dir string, stderr io.Writer) error

// copyFolder copies the regular files directly in the folder src of st into the new host
// folder dst, at most limit bytes in all.
func copyFolder(st Store, src, dst string, limit int64) error {
	ents, err := fs.ReadDir(st, fsName(src))
	if err != nil {
		return err
	}
	if err := os.Mkdir(dst, 0o755); err != nil {
		return err
	}
	for _, e := range ents {
		p := path.Join(src, e.Name())
		if !isFile(st, p) {
			continue
		}
		in, err := st.Open(fsName(p))
		if err != nil {
			return err
		}
		out, err := os.Create(filepath.Join(dst, e.Name()))
		if err != nil {
			in.Close()
			return err
		}
		n, err := io.Copy(out, io.LimitReader(in, limit+1))
		in.Close()
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if limit -= n; limit < 0 {
			return fmt.Errorf("%s: more than %d bytes of modules", src, maxGrubModules)
		}
	}
	return nil
}

package boot

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// A GrubTheme is a GRUB theme folder of the Store (isoImage.grubTheme, nixpkgs' default
// pkgs.nixos-grub2-theme): theme.txt, its images and its .pf2 fonts, which go to the ISO
// under /EFI/BOOT/grub-theme.
type GrubTheme struct {
	// Dir is the folder, with symbolic links resolved.
	Dir string
	// Files are the folder's regular files, relative to Dir, sorted: "theme.txt",
	// "fonts/unicode.pf2", ... A symbolic link to a regular file counts as that file.
	Files []string
	// Fonts are the Files GRUB loads, those named *.pf2 in any case, sorted.
	Fonts []string
}

// Bounds on a GRUB theme: nixos-grub2-theme has a dozen files and a few hundred kilobytes.
const (
	maxThemeFiles = 1024
	maxThemeBytes = 64 << 20
)

// ReadGrubTheme reads the GRUB theme folder dir through st: every regular file below it, at
// most 1024 files and 64 MiB in all. It must have a theme.txt at its top, which grub.cfg sets as
// the theme. Anything that is neither a folder nor (a link to) a regular file is an error, as is
// a link that leads out of what st shows.
func ReadGrubTheme(st Store, dir string) (*GrubTheme, error) {
	st = withAbsPaths(st)
	dir, err := evalSymlinks(st, dir)
	if err != nil {
		return nil, fmt.Errorf("boot: GRUB theme: %w", err)
	}
	if !isDir(st, dir) {
		return nil, fmt.Errorf("boot: GRUB theme %s is not a folder", dir)
	}
	th := &GrubTheme{Dir: dir}
	var total int64
	err = fs.WalkDir(st, fsName(dir), func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		p := "/" + name
		if d.IsDir() {
			return nil
		}
		fi, err := statFile(st, p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, dir+"/")
		if err := checkThemeName(rel); err != nil {
			return err
		}
		th.Files = append(th.Files, rel)
		if total += fi.Size(); total > maxThemeBytes {
			return fmt.Errorf("more than %d bytes", maxThemeBytes)
		}
		if len(th.Files) > maxThemeFiles {
			return fmt.Errorf("more than %d files", maxThemeFiles)
		}
		// find's -iname '*.pf2', as iso-image.nix looks for the fonts.
		if strings.HasSuffix(strings.ToLower(path.Base(rel)), ".pf2") {
			th.Fonts = append(th.Fonts, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boot: GRUB theme %s: %w", dir, err)
	}
	if !slices.Contains(th.Files, grubThemeFile) {
		return nil, fmt.Errorf("boot: GRUB theme %s has no %s", dir, grubThemeFile)
	}
	// fs.WalkDir visits names in lexical order, folder by folder; sorting the whole paths
	// makes the order independent of how a Store lists a folder. nixpkgs writes the loadfont
	// lines in find's order, the order of the file system's folder entries, which is not
	// reproducible; GRUB does not care about the order of its fonts.
	slices.Sort(th.Files)
	slices.Sort(th.Fonts)
	return th, nil
}

// grubThemeFile is the file grub.cfg sets as the theme, at the top of the theme folder.
const grubThemeFile = "theme.txt"

// checkThemeName accepts the name of a theme's file that grub.cfg can name: a relative path
// without control characters, "." or ".." parts.
func checkThemeName(rel string) error {
	if err := checkText(rel); err != nil {
		return fmt.Errorf("file name: %w", err)
	}
	if !fs.ValidPath(rel) || rel == "." {
		return fmt.Errorf("file name %q is not a relative path", rel)
	}
	return nil
}

package gonixiso

import (
	"fmt"
	"path"
	"slices"

	"github.com/gonixiso/gonixiso/boot"
	"github.com/gonixiso/gonixiso/closure"
	"github.com/gonixiso/gonixiso/spec"
	"github.com/gonixiso/gonixiso/squash"
)

// ConfigFromSpec returns the configuration that builds the ISO a spec describes, as nixpkgs'
// iso-image.nix builds the configuration's isoImage: its toplevel, storeContents, compression,
// file name, boot modes, menus and boot files, and contents. storeDir is the store directory
// the spec's paths are in ("" for /nix/store): every path a spec names must be in it, so that a
// spec cannot make gonixiso read a host file. What a spec does not say (where the store is, the
// cache, workers, the date) is left for the caller.
func ConfigFromSpec(s *spec.Spec, storeDir string) (Config, error) {
	if storeDir == "" {
		storeDir = closure.DefaultStoreDir
	}
	st := closure.Store{Dir: storeDir}
	for _, p := range s.StorePaths() {
		if _, ok := st.StorePathOf(p); !ok {
			return Config{}, fmt.Errorf("spec: %s is not in the store %s", p, storeDir)
		}
	}
	im := &s.ISOImage
	cfg := Config{
		Toplevel:      s.Toplevel,
		ExtraPaths:    slices.Clone(im.StoreContents),
		Output:        s.Image.FileName,
		CompressImage: im.CompressImage,
	}
	comp, err := im.Compression(squash.DefaultBlockSize)
	if err != nil {
		return Config{}, fmt.Errorf("spec: %w", err)
	}
	cfg.Compression = comp
	for _, c := range im.Contents {
		cfg.Contents = append(cfg.Contents, Content{Source: c.Source, Target: c.Target})
	}
	// Everything the spec names but the roots of the SquashFS is a boot root: read, not packed.
	roots := append([]string{s.Toplevel}, im.StoreContents...)
	for _, p := range s.StorePaths() {
		if !slices.Contains(roots, p) {
			cfg.BootRoots = append(cfg.BootRoots, p)
		}
	}
	timeout := -1 // null: wait for a choice
	if t := s.Boot.Loader.Timeout; t != nil {
		timeout = *t
	}
	appendLabel := im.AppendToMenuLabel
	b := &cfg.Boot
	b.VolumeID = im.VolumeID
	b.Timeout = &timeout
	b.NoBIOS = !im.MakeBiosBootable
	b.NoUEFI = !im.MakeEfiBootable
	b.PrependToMenuLabel = im.PrependToMenuLabel
	b.AppendToMenuLabel = &appendLabel
	b.ConfigurationName = deref(im.ConfigurationName)
	b.ForceTextMode = im.ForceTextMode
	if im.MakeBiosBootable {
		b.SplashImage = deref(im.SplashImage)
		b.Syslinux = path.Join(deref(s.Packages.Syslinux), "share", "syslinux")
	}
	if im.MakeEfiBootable {
		b.EFISplashImage = deref(im.EFISplashImage)
		b.Grub = deref(s.Packages.Grub2EFI)
	}
	b.NoUSB = !im.MakeUsbBootable
	theme := im.SyslinuxTheme
	b.SyslinuxTheme = &theme
	if im.MakeEfiBootable {
		cfg.GrubTheme = deref(im.GrubTheme)
	}
	if s.Boot.Loader.Grub.Memtest86.Enable {
		b.Memtest = deref(s.Packages.Memtest86plusFile)
		b.MemtestParams = slices.Clone(s.Boot.Loader.Grub.Memtest86.Params)
	}
	// Each configuration's own isoImage options: the main one's, and each specialisation's.
	b.Entries = map[string]boot.EntryOptions{"": {Hidden: !im.ShowConfiguration}}
	for _, name := range s.SpecialisationNames() {
		sp := s.Specialisation[name].Configuration.ISOImage
		name, prepend, appendLabel := name, sp.PrependToMenuLabel, sp.AppendToMenuLabel
		configName := deref(sp.ConfigurationName) // null: no name
		b.Entries[name] = boot.EntryOptions{PrependToMenuLabel: &prepend, AppendToMenuLabel: &appendLabel,
			ConfigurationName: &configName, Hidden: !sp.ShowConfiguration}
	}
	return cfg, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

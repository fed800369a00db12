// Package spec reads the ISO spec: the JSON file that gonixiso's NixOS module writes
// (config.system.build.gonixiso, nix/spec.nix) with every value nixpkgs' iso-image.nix would use
// to build a configuration's ISO, resolved to store paths, under the names of the options they
// come from. docs/spec.md describes the format field by field.
//
// A spec is untrusted input like a toplevel: Read bounds its size, refuses fields it does not
// know and versions it cannot read, and checks every value it can alone (store paths are absolute
// and clean, the volume id fits, targets are ISO paths). It does not read the store: whether the
// paths exist and are in the spec's closure is for the reader of the store to check.
package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
)

// Version is the format version this package reads.
const Version = 1

// MaxSize bounds a spec file: a real one is a few kilobytes.
const MaxSize = 4 << 20

// A Spec is an ISO spec, as nix/spec.nix writes it.
type Spec struct {
	Version        int                       `json:"version"`
	System         string                    `json:"system"`
	Toplevel       string                    `json:"toplevel"`
	ISOImage       ISOImage                  `json:"isoImage"`
	Image          Image                     `json:"image"`
	Boot           Boot                      `json:"boot"`
	Specialisation map[string]Specialisation `json:"specialisation"`
	Packages       Packages                  `json:"packages"`
}

// ISOImage holds the isoImage.* options.
type ISOImage struct {
	VolumeID                       string    `json:"volumeID"`
	Edition                        string    `json:"edition"`
	SquashfsCompression            *string   `json:"squashfsCompression"` // nil: uncompressed
	MakeEfiBootable                bool      `json:"makeEfiBootable"`
	MakeBiosBootable               bool      `json:"makeBiosBootable"`
	MakeUsbBootable                bool      `json:"makeUsbBootable"`
	PrependToMenuLabel             string    `json:"prependToMenuLabel"`
	AppendToMenuLabel              string    `json:"appendToMenuLabel"`
	ConfigurationName              *string   `json:"configurationName"`
	ShowConfiguration              bool      `json:"showConfiguration"`
	ForceTextMode                  bool      `json:"forceTextMode"`
	SplashImage                    *string   `json:"splashImage"`
	EFISplashImage                 *string   `json:"efiSplashImage"`
	GrubTheme                      *string   `json:"grubTheme"`
	SyslinuxTheme                  string    `json:"syslinuxTheme"`
	Contents                       []Content `json:"contents"`
	StoreContents                  []string  `json:"storeContents"`
	IncludeSystemBuildDependencies bool      `json:"includeSystemBuildDependencies"`
	CompressImage                  bool      `json:"compressImage"`
}

// Content is an entry of isoImage.contents: a file or folder of the store, placed on the ISO.
type Content struct {
	Source string `json:"source"`
	Target string `json:"target"`
}

// Image holds the image.* options.
type Image struct {
	FileName string `json:"fileName"`
	BaseName string `json:"baseName"`
}

// Boot holds the boot.* options the ISO uses.
type Boot struct {
	Loader struct {
		Timeout *int `json:"timeout"` // nil: wait for a choice
		Grub    struct {
			Memtest86 struct {
				Enable bool     `json:"enable"`
				Params []string `json:"params"`
			} `json:"memtest86"`
		} `json:"grub"`
	} `json:"loader"`
	Initrd struct {
		Systemd struct {
			Enable bool `json:"enable"`
		} `json:"systemd"`
	} `json:"initrd"`
}

// Specialisation is specialisation.<name>: its own isoImage options and its toplevel.
type Specialisation struct {
	Configuration struct {
		ISOImage struct {
			PrependToMenuLabel string  `json:"prependToMenuLabel"`
			AppendToMenuLabel  string  `json:"appendToMenuLabel"`
			ConfigurationName  *string `json:"configurationName"`
			ShowConfiguration  bool    `json:"showConfiguration"`
		} `json:"isoImage"`
		System struct {
			Build struct {
				Toplevel string `json:"toplevel"`
			} `json:"build"`
		} `json:"system"`
	} `json:"configuration"`
}

// Packages are the bootloader packages of the configuration's own nixpkgs; nil when unused.
type Packages struct {
	Grub2EFI          *string `json:"grub2_efi"`
	Syslinux          *string `json:"syslinux"`
	Memtest86plus     *string `json:"memtest86plus"`
	Memtest86plusFile *string `json:"memtest86plusFile"`
}

// Read reads and checks a spec. Errors name the field that is wrong.
func Read(r io.Reader) (*Spec, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("spec: more than %d bytes", MaxSize)
	}
	// The version first, so that a spec of another version says so, not that its fields are
	// unknown.
	var v struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("spec: malformed JSON: %w", err)
	}
	switch {
	case v.Version == nil:
		return nil, errors.New("spec: no version field: not a gonixiso ISO spec")
	case *v.Version != Version:
		return nil, fmt.Errorf("spec: format version %d; this gonixiso reads version %d", *v.Version, Version)
	}
	var s Spec
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	if dec.More() {
		return nil, errors.New("spec: data after the JSON object")
	}
	if err := s.check(data); err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	return &s, nil
}

// check holds the values to what the format allows; raw is the spec's JSON, for the fields
// whose absence decoding cannot tell.
func (s *Spec) check(raw []byte) error {
	if err := requireFields(raw); err != nil {
		return err
	}
	if s.System != "x86_64-linux" {
		return fmt.Errorf("system: %q: gonixiso makes ISOs of x86_64-linux systems only", s.System)
	}
	paths := []struct {
		field string
		p     *string
	}{
		{"toplevel", &s.Toplevel},
		{"isoImage.splashImage", s.ISOImage.SplashImage},
		{"isoImage.efiSplashImage", s.ISOImage.EFISplashImage},
		{"isoImage.grubTheme", s.ISOImage.GrubTheme},
		{"packages.grub2_efi", s.Packages.Grub2EFI},
		{"packages.syslinux", s.Packages.Syslinux},
		{"packages.memtest86plus", s.Packages.Memtest86plus},
		{"packages.memtest86plusFile", s.Packages.Memtest86plusFile},
	}
	for i, c := range s.ISOImage.Contents {
		paths = append(paths, struct {
			field string
			p     *string
		}{fmt.Sprintf("isoImage.contents[%d].source", i), &c.Source})
		if err := checkTarget(c.Target); err != nil {
			return fmt.Errorf("isoImage.contents[%d].target: %w", i, err)
		}
	}
	for i := range s.ISOImage.StoreContents {
		paths = append(paths, struct {
			field string
			p     *string
		}{fmt.Sprintf("isoImage.storeContents[%d]", i), &s.ISOImage.StoreContents[i]})
	}
	for _, name := range s.SpecialisationNames() {
		if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
			return fmt.Errorf("specialisation: invalid name %q", name)
		}
		sp := s.Specialisation[name]
		paths = append(paths, struct {
			field string
			p     *string
		}{"specialisation." + name + ".configuration.system.build.toplevel", &sp.Configuration.System.Build.Toplevel})
	}
	for _, p := range paths {
		if p.p == nil {
			continue
		}
		if err := checkPath(*p.p); err != nil {
			return fmt.Errorf("%s: %w", p.field, err)
		}
	}
	im := &s.ISOImage
	if im.VolumeID == "" || len(im.VolumeID) > 32 {
		return fmt.Errorf("isoImage.volumeID: %q: want 1 to 32 bytes", im.VolumeID)
	}
	if !im.MakeBiosBootable && !im.MakeEfiBootable {
		return errors.New("isoImage: neither makeBiosBootable nor makeEfiBootable: nothing would boot")
	}
	if im.MakeBiosBootable && s.Packages.Syslinux == nil {
		return errors.New("packages.syslinux: null, but isoImage.makeBiosBootable is set")
	}
	if im.MakeEfiBootable && s.Packages.Grub2EFI == nil {
		return errors.New("packages.grub2_efi: null, but isoImage.makeEfiBootable is set")
	}
	if s.Boot.Loader.Grub.Memtest86.Enable && s.Packages.Memtest86plusFile == nil {
		return errors.New("packages.memtest86plusFile: null, but boot.loader.grub.memtest86.enable is set")
	}
	if t := s.Boot.Loader.Timeout; t != nil && *t < 0 {
		return fmt.Errorf("boot.loader.timeout: %d: want a number of seconds, or null to wait", *t)
	}
	if err := checkFileName(s.Image.FileName); err != nil {
		return fmt.Errorf("image.fileName: %w", err)
	}
	return nil
}

// requireFields checks that the spec has every field of the format: a missing one is a spec
// from another writer, not a default.
func requireFields(raw []byte) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return err
	}
	for _, f := range []string{"version", "system", "toplevel", "isoImage", "image", "boot", "specialisation", "packages"} {
		if _, ok := top[f]; !ok {
			return fmt.Errorf("%s: missing", f)
		}
	}
	var im map[string]json.RawMessage
	if err := json.Unmarshal(top["isoImage"], &im); err != nil {
		return fmt.Errorf("isoImage: %w", err)
	}
	for _, f := range []string{"volumeID", "squashfsCompression", "makeEfiBootable", "makeBiosBootable", "makeUsbBootable",
		"prependToMenuLabel", "appendToMenuLabel", "configurationName", "showConfiguration", "forceTextMode",
		"splashImage", "efiSplashImage", "grubTheme", "syslinuxTheme", "contents", "storeContents", "compressImage"} {
		if _, ok := im[f]; !ok {
			return fmt.Errorf("isoImage.%s: missing", f)
		}
	}
	return nil
}

// checkPath accepts an absolute, clean path: a store path or a path inside one.
func checkPath(p string) error {
	if !path.IsAbs(p) || path.Clean(p) != p || strings.ContainsRune(p, 0) {
		return fmt.Errorf("%q is not an absolute, clean path", p)
	}
	return nil
}

// checkTarget accepts a path on the ISO: a relative one is taken from the root, as
// make-iso9660-image.sh does, but it may not climb out of it.
func checkTarget(t string) error {
	clean := path.Clean("/" + t)
	if t == "" || clean == "/" || strings.ContainsRune(t, 0) {
		return fmt.Errorf("%q is not a path on the ISO", t)
	}
	for _, c := range strings.Split(strings.TrimPrefix(t, "/"), "/") {
		if c == ".." {
			return fmt.Errorf("%q climbs out of the ISO's root", t)
		}
	}
	return nil
}

// checkFileName accepts a file name without folders.
func checkFileName(n string) error {
	if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\x00") {
		return fmt.Errorf("%q is not a file name", n)
	}
	return nil
}

// SpecialisationNames returns the specialisations' names, sorted, as the menus list them.
func (s *Spec) SpecialisationNames() []string {
	names := make([]string, 0, len(s.Specialisation))
	for n := range s.Specialisation {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// StorePaths returns every store path the spec names, sorted: the roots whose closures hold
// everything the ISO needs (the SquashFS's and the boot files').
func (s *Spec) StorePaths() []string {
	var out []string
	add := func(p *string) {
		if p != nil && *p != "" {
			out = append(out, *p)
		}
	}
	add(&s.Toplevel)
	add(s.ISOImage.SplashImage)
	add(s.ISOImage.EFISplashImage)
	add(s.ISOImage.GrubTheme)
	add(s.Packages.Grub2EFI)
	add(s.Packages.Syslinux)
	add(s.Packages.Memtest86plus)
	add(s.Packages.Memtest86plusFile)
	for i := range s.ISOImage.Contents {
		add(&s.ISOImage.Contents[i].Source)
	}
	out = append(out, s.ISOImage.StoreContents...)
	for _, sp := range s.Specialisation {
		add(&sp.Configuration.System.Build.Toplevel)
	}
	sort.Strings(out)
	return out
}

package boot

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// A System is what the boot menus need of one NixOS configuration: the main configuration of
// a toplevel, or one of its specialisations.
type System struct {
	// Toplevel is the configuration's toplevel, with symbolic links resolved.
	Toplevel string
	// Name is the specialisation's name, "" for the main configuration.
	Name string
	// Init is the stage-2 init, <toplevel>/init (bootspec "init").
	Init string
	// Kernel and Initrd are the store paths of the kernel image and the initrd
	// (bootspec "kernel" and "initrd", or the targets of the toplevel's kernel and initrd links).
	Kernel, Initrd string
	// KernelParams are config.boot.kernelParams, without init=.
	KernelParams []string
	// Label is config.system.nixos.label, the toplevel's nixos-version.
	Label string
	// DistroName is config.system.nixos.distroName: NAME in the toplevel's etc/os-release, or
	// "NixOS" where it has none.
	DistroName string
	// Platform is the system type, e.g. "x86_64-linux" (bootspec "system", or the toplevel's
	// system file; "" where an old toplevel has neither).
	Platform string
	// Specialisations are the main configuration's specialisations, sorted by name. A
	// specialisation has none: NixOS does not nest them.
	Specialisations []*System
	// ExtraDependencies are the store paths in the main configuration's extra-dependencies
	// (system.extraDependencies), where an installer lists grub2_efi.
	ExtraDependencies []string
	// Bootspec tells whether the configuration was read from boot.json; false means from the
	// files older toplevels have (kernel, initrd, init, kernel-params, specialisation/).
	Bootspec bool
}

// ReadSystem reads the NixOS toplevel at top (an absolute path in st, e.g. a store path) and
// its specialisations, through st alone. It reads boot.json (bootspec v1, with the
// org.nixos.specialisation.v1 documents; other namespaces are ignored) and, where a toplevel
// has none, the files older NixOS toplevels have. Errors name the file, and for boot.json the
// field, that is wrong: a toplevel without a kernel, a link that leads nowhere or out of what
// st shows, malformed JSON.
func ReadSystem(st Store, top string) (*System, error) {
	st = withAbsPaths(st)
	top, err := evalSymlinks(st, top)
	if err != nil {
		return nil, fmt.Errorf("boot: toplevel: %w", err)
	}
	if fi, err := st.Stat(fsName(top)); err != nil {
		return nil, fmt.Errorf("boot: toplevel: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("boot: toplevel %s is not a directory", top)
	}
	sys, specs, err := readConfig(st, top, "")
	if err != nil {
		return nil, err
	}
	if sys.Bootspec {
		for _, s := range specs {
			spec, err := fromBootspec(st, s.v1.Toplevel, s.name, s.v1,
				path.Join(top, "boot.json")+": "+specialisationV1Key+"."+s.name+"."+bootspecV1Key)
			if err != nil {
				return nil, err
			}
			sys.Specialisations = append(sys.Specialisations, spec)
		}
	} else if sys.Specialisations, err = readSpecialisationLinks(st, top); err != nil {
		return nil, err
	}
	if sys.ExtraDependencies, err = readWords(st, path.Join(top, "extra-dependencies"), true); err != nil {
		return nil, err
	}
	for _, d := range sys.ExtraDependencies {
		if !path.IsAbs(d) {
			return nil, fmt.Errorf("boot: %s: %q is not an absolute path", path.Join(top, "extra-dependencies"), d)
		}
	}
	return sys, nil
}

// readConfig reads one configuration from its toplevel: from boot.json if there is one, which
// also lists the specialisations, or else from the older files.
func readConfig(st Store, top, name string) (*System, []namedSpec, error) {
	bootJSON := path.Join(top, "boot.json")
	data, err := readText(st, bootJSON)
	if isNotExist(err) {
		sys, err := fromFiles(st, top, name)
		return sys, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("boot: %w", err)
	}
	v1, specs, err := parseBootJSON(data)
	if err != nil {
		return nil, nil, fmt.Errorf("boot: %s: %w", bootJSON, err)
	}
	sys, err := fromBootspec(st, top, name, v1, bootJSON+": "+bootspecV1Key)
	return sys, specs, err
}

// fromBootspec makes a System of a bootspec object, reading the label and the distribution's
// name from the toplevel top. where names the object in errors.
func fromBootspec(st Store, top, name string, v1 *bootspecV1, where string) (*System, error) {
	sys := &System{
		Toplevel:     path.Clean(top),
		Name:         name,
		Init:         path.Clean(v1.Init),
		Kernel:       path.Clean(v1.Kernel),
		Initrd:       path.Clean(v1.Initrd),
		KernelParams: *v1.KernelParams,
		Platform:     v1.System,
		Bootspec:     true,
	}
	for _, f := range []struct{ field, path string }{{"kernel", sys.Kernel}, {"initrd", sys.Initrd}, {"init", sys.Init}} {
		if _, err := statFile(st, f.path); err != nil {
			return nil, fmt.Errorf("boot: %s.%s: %w", where, f.field, err)
		}
	}
	if err := readFacts(st, sys); err != nil {
		if name != "" {
			return nil, fmt.Errorf("%w (%s.toplevel)", err, where)
		}
		return nil, err
	}
	return sys, nil
}

// fromFiles reads a configuration the way toplevels without boot.json have it: the kernel and
// initrd links, init, kernel-params and system.
func fromFiles(st Store, top, name string) (*System, error) {
	sys := &System{Toplevel: top, Name: name, Init: path.Join(top, "init")}
	var err error
	if sys.Kernel, err = linkTarget(st, path.Join(top, "kernel")); err != nil {
		return nil, err
	}
	if sys.Initrd, err = linkTarget(st, path.Join(top, "initrd")); err != nil {
		return nil, err
	}
	if _, err := statFile(st, sys.Init); err != nil {
		return nil, fmt.Errorf("boot: %s: not a NixOS toplevel: %w", top, err)
	}
	paramsFile := path.Join(top, "kernel-params")
	if sys.KernelParams, err = readWords(st, paramsFile, false); err != nil {
		return nil, err
	}
	for _, p := range sys.KernelParams {
		if err := checkParam(p); err != nil {
			return nil, fmt.Errorf("boot: %s: %w", paramsFile, err)
		}
	}
	if words, err := readWords(st, path.Join(top, "system"), true); err != nil {
		return nil, err
	} else if len(words) == 1 {
		sys.Platform = words[0]
	}
	if err := readFacts(st, sys); err != nil {
		return nil, err
	}
	return sys, nil
}

// readFacts reads what the menus show of a configuration: nixos-version and the NAME in
// etc/os-release.
func readFacts(st Store, sys *System) error {
	versionFile := path.Join(sys.Toplevel, "nixos-version")
	v, err := readText(st, versionFile)
	if err != nil {
		return fmt.Errorf("boot: not a NixOS toplevel: %w", err)
	}
	sys.Label = string(v)
	if err := checkText(sys.Label); err != nil {
		return fmt.Errorf("boot: %s: %w", versionFile, err)
	}
	sys.DistroName, err = distroName(st, path.Join(sys.Toplevel, "etc", "os-release"))
	return err
}

// readSpecialisationLinks reads the configurations that the links in <top>/specialisation
// point at, sorted by name.
func readSpecialisationLinks(st Store, top string) ([]*System, error) {
	dir := path.Join(top, "specialisation")
	ents, err := fs.ReadDir(st, fsName(dir))
	if isNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("boot: %w", err)
	}
	var specs []*System
	for _, e := range ents { // fs.ReadDir sorts by name
		link := path.Join(dir, e.Name())
		if err := checkSpecialisationName(e.Name()); err != nil {
			return nil, fmt.Errorf("boot: %s: %w", link, err)
		}
		child, err := evalSymlinks(st, link)
		if err != nil {
			return nil, fmt.Errorf("boot: specialisation %s: broken link: %w", link, err)
		}
		spec, _, err := readConfig(st, child, e.Name())
		if err != nil {
			return nil, err
		}
		specs = append(specs, spec)
	}
	return specs, nil
}

// linkTarget returns the file the toplevel's link at p points at (p itself if it is a file),
// and checks that it is a regular file.
func linkTarget(st Store, p string) (string, error) {
	target := p
	if fi, err := st.Lstat(fsName(p)); err != nil {
		return "", fmt.Errorf("boot: not a NixOS toplevel: %w", err)
	} else if fi.Mode()&fs.ModeSymlink != 0 {
		if target, err = st.ReadLink(fsName(p)); err != nil {
			return "", fmt.Errorf("boot: %w", err)
		}
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(p), target)
		}
		target = path.Clean(target)
	}
	if _, err := statFile(st, target); isNotExist(err) {
		return "", fmt.Errorf("boot: %s: broken link: %w", p, err)
	} else if err != nil {
		return "", fmt.Errorf("boot: %s: %w", p, err)
	}
	return target, nil
}

// readWords returns the whitespace-separated words of a file. A missing file is an error
// unless optional is set.
func readWords(st Store, p string, optional bool) ([]string, error) {
	data, err := readText(st, p)
	if optional && isNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("boot: not a NixOS toplevel: %w", err)
	}
	return strings.Fields(string(data)), nil
}

// distroName returns NAME from an os-release file, unquoted as os-release(5) says, or "NixOS"
// if there is no file or no NAME.
func distroName(st Store, p string) (string, error) {
	data, err := readText(st, p)
	if isNotExist(err) {
		return "NixOS", nil
	}
	if err != nil {
		return "", fmt.Errorf("boot: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		value, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "NAME=")
		if !ok {
			continue
		}
		if strings.HasPrefix(value, `"`) {
			if value, err = strconv.Unquote(value); err != nil {
				return "", fmt.Errorf("boot: %s: NAME: %w", p, err)
			}
		} else if len(value) >= 2 && value[0] == '\'' && value[len(value)-1] == '\'' {
			value = value[1 : len(value)-1]
		}
		if err := checkText(value); err != nil {
			return "", fmt.Errorf("boot: %s: NAME: %w", p, err)
		}
		return value, nil
	}
	return "NixOS", nil
}

// checkText accepts text that can be part of a menu line: not empty, no control characters.
func checkText(s string) error {
	if s == "" {
		return errors.New("empty")
	}
	for _, r := range s {
		if r < ' ' || r == 0x7F {
			return fmt.Errorf("%q has a control character", s)
		}
	}
	return nil
}

// rootLabel returns the label in the last root=LABEL= of the kernel parameters (the one Linux
// and stage 1 use), and whether there is a root= at all.
func (s *System) rootLabel() (label string, hasRoot bool) {
	for _, p := range s.KernelParams {
		if v, ok := strings.CutPrefix(p, "root="); ok {
			hasRoot = true
			label, _ = strings.CutPrefix(v, "LABEL=")
			if !strings.HasPrefix(v, "LABEL=") {
				label = ""
			}
		}
	}
	return label, hasRoot
}

// CommandLine returns the kernel command line of the configuration as NixOS builds it for a
// live ISO: init=<toplevel>/init, the kernel parameters, then extra.
func (s *System) CommandLine(extra ...string) []string {
	return append(append([]string{"init=" + s.Init}, s.KernelParams...), extra...)
}

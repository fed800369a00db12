package boot

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// The namespaces of a bootspec document (nixpkgs nixos/modules/system/activation/bootspec.nix,
// RFC 0125). A document may hold any other namespace (boot.bootspec.extensions); readers
// ignore those.
const (
	bootspecV1Key       = "org.nixos.bootspec.v1"
	specialisationV1Key = "org.nixos.specialisation.v1"
)

// bootspecV1 is the org.nixos.bootspec.v1 object: what a boot loader needs of one configuration.
type bootspecV1 struct {
	System       string    // "system", e.g. x86_64-linux
	Init         string    // "init": <toplevel>/init
	Initrd       string    // "initrd": absent when the system has no initrd
	Kernel       string    // "kernel"
	KernelParams *[]string // "kernelParams"
	Label        string    // "label": "<distroName> <codeName> <nixos label> (Linux <version>)"
	Toplevel     string    // "toplevel"
}

// fieldError names the field of a boot.json that is wrong.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

var errMissing = errors.New("missing")

// object decodes a JSON object into its members. Keys are matched exactly: encoding/json's
// struct decoding would take "org.nixos.BOOTSPEC.v1", another namespace, for the bootspec.
func object(data json.RawMessage, field string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return nil, &fieldError{field, errors.New("not a JSON object")}
	}
	return m, nil
}

// parseBootJSON decodes and checks a boot.json: the bootspec object with its required fields
// and absolute paths, and every specialisation's. A specialisation's document has no
// specialisations of its own (NixOS does not nest them; any are ignored). Specialisations are
// returned sorted by name; namespaces other than bootspec's are ignored.
func parseBootJSON(data []byte) (*bootspecV1, []namedSpec, error) {
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		return nil, nil, fmt.Errorf("malformed JSON: %w", err)
	}
	doc, err := object(data, "document")
	if err != nil {
		return nil, nil, err
	}
	v1, err := parseV1(doc[bootspecV1Key], bootspecV1Key)
	if err != nil {
		return nil, nil, err
	}
	var specs []namedSpec
	if raw, ok := doc[specialisationV1Key]; ok {
		docs, err := object(raw, specialisationV1Key)
		if err != nil {
			return nil, nil, err
		}
		for name, raw := range docs {
			field := specialisationV1Key + "." + name
			if err := checkSpecialisationName(name); err != nil {
				return nil, nil, &fieldError{field, err}
			}
			sd, err := object(raw, field)
			if err != nil {
				return nil, nil, err
			}
			sv1, err := parseV1(sd[bootspecV1Key], field+"."+bootspecV1Key)
			if err != nil {
				return nil, nil, err
			}
			specs = append(specs, namedSpec{name, sv1})
		}
	}
	slices.SortFunc(specs, func(a, b namedSpec) int { return strings.Compare(a.name, b.name) })
	return v1, specs, nil
}

// parseV1 decodes and checks a bootspec object, named field in errors.
func parseV1(raw json.RawMessage, field string) (*bootspecV1, error) {
	if raw == nil {
		return nil, &fieldError{field, errMissing}
	}
	m, err := object(raw, field)
	if err != nil {
		return nil, err
	}
	v := &bootspecV1{}
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"system", &v.System}, {"init", &v.Init}, {"initrd", &v.Initrd}, {"kernel", &v.Kernel},
		{"label", &v.Label}, {"toplevel", &v.Toplevel},
	} {
		if r, ok := m[f.key]; ok {
			if err := json.Unmarshal(r, f.dst); err != nil {
				return nil, &fieldError{field + "." + f.key, errors.New("not a string")}
			}
		}
	}
	if r, ok := m["kernelParams"]; ok {
		if err := json.Unmarshal(r, &v.KernelParams); err != nil {
			return nil, &fieldError{field + ".kernelParams", errors.New("not a list of strings")}
		}
	}
	if err := checkV1(v, field); err != nil {
		return nil, err
	}
	return v, nil
}

type namedSpec struct {
	name string
	v1   *bootspecV1
}

// checkV1 checks the fields of a bootspec object that boot uses.
func checkV1(v *bootspecV1, field string) error {
	if v == nil {
		return &fieldError{field, errMissing}
	}
	// initrd is optional in bootspec, but a live system cannot boot without one.
	for _, f := range []struct{ name, value string }{
		{"system", v.System},
		{"init", v.Init},
		{"kernel", v.Kernel},
		{"initrd", v.Initrd},
		{"toplevel", v.Toplevel},
	} {
		switch {
		case f.value == "":
			return &fieldError{field + "." + f.name, errMissing}
		case f.name != "system" && !path.IsAbs(f.value):
			return &fieldError{field + "." + f.name, fmt.Errorf("%q is not an absolute path", f.value)}
		}
	}
	if v.KernelParams == nil {
		return &fieldError{field + ".kernelParams", errMissing}
	}
	for _, p := range *v.KernelParams {
		if err := checkParam(p); err != nil {
			return &fieldError{field + ".kernelParams", err}
		}
	}
	return nil
}

// checkParam accepts a kernel parameter that the menus can carry: one word, printable.
func checkParam(p string) error {
	if p == "" {
		return errors.New("empty kernel parameter")
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7F {
			return fmt.Errorf("kernel parameter %q has a space or a control character", p)
		}
	}
	return nil
}

// checkSpecialisationName accepts a name that can be a menu label's suffix and a file name.
func checkSpecialisationName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/") {
		return fmt.Errorf("invalid specialisation name %q", name)
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7F {
			return fmt.Errorf("specialisation name %q has a space or a control character", name)
		}
	}
	return nil
}

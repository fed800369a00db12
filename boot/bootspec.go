package boot

import (
	"bytes"
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
	System        string    `json:"system"`        // e.g. x86_64-linux
	Init          string    `json:"init"`          // <toplevel>/init
	Initrd        string    `json:"initrd"`        // absent when the system has no initrd
	InitrdSecrets string    `json:"initrdSecrets"` // not used: an ISO carries no secrets
	Kernel        string    `json:"kernel"`
	KernelParams  *[]string `json:"kernelParams"`
	Label         string    `json:"label"` // "<distroName> <codeName> <nixos label> (Linux <version>)"
	Toplevel      string    `json:"toplevel"`
}

// bootDocument is a boot.json: a bootspec and the documents of the specialisations, keyed by
// name. A specialisation's document has no specialisations of its own.
type bootDocument struct {
	V1              *bootspecV1              `json:"org.nixos.bootspec.v1"`
	Specialisations map[string]*bootDocument `json:"org.nixos.specialisation.v1"`
}

// fieldError names the field of a boot.json that is wrong.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

var errMissing = errors.New("missing")

// parseBootJSON decodes and checks a boot.json: the bootspec object with its required fields
// and absolute paths, and every specialisation's. Specialisations are returned sorted by name.
func parseBootJSON(data []byte) (*bootspecV1, []namedSpec, error) {
	var doc bootDocument
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if dec.More() {
		return nil, nil, errors.New("malformed JSON: data after the document")
	}
	if err := checkV1(doc.V1, bootspecV1Key); err != nil {
		return nil, nil, err
	}
	var specs []namedSpec
	for name, sd := range doc.Specialisations {
		field := specialisationV1Key + "." + name
		if err := checkSpecialisationName(name); err != nil {
			return nil, nil, &fieldError{field, err}
		}
		if sd == nil {
			return nil, nil, &fieldError{field, errMissing}
		}
		if err := checkV1(sd.V1, field+"."+bootspecV1Key); err != nil {
			return nil, nil, err
		}
		specs = append(specs, namedSpec{name, sd.V1})
	}
	slices.SortFunc(specs, func(a, b namedSpec) int { return strings.Compare(a.name, b.name) })
	return doc.V1, specs, nil
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

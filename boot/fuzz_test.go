package boot

import (
	"encoding/json"
	"path"
	"slices"
	"strings"
	"testing"
)

// FuzzParseBootJSON feeds parseBootJSON arbitrary bytes: it must never panic, and what it
// accepts must hold what the menus rely on.
func FuzzParseBootJSON(f *testing.F) {
	v1 := `{"init":"/nix/store/a-system/init","initrd":"/nix/store/b-initrd/initrd","kernel":"/nix/store/c-linux/bzImage",` +
		`"kernelParams":["root=LABEL=x","loglevel=4"],"label":"NixOS","system":"x86_64-linux","toplevel":"/nix/store/a-system"}`
	f.Add([]byte(`{"org.nixos.bootspec.v1":` + v1 + `}`))
	f.Add([]byte(`{"org.nixos.bootspec.v1":` + v1 + `,"org.nixos.specialisation.v1":{"alt":{"org.nixos.bootspec.v1":` + v1 + `}},"x":{}}`))
	f.Add([]byte(`{"org.nixos.bootspec.v1":{"kernelParams":null}}`))
	f.Add([]byte(`{"org.nixos.specialisation.v1":{"":null}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, specs, err := parseBootJSON(data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatal("accepted invalid JSON")
		}
		all := []*bootspecV1{v}
		for _, s := range specs {
			if checkSpecialisationName(s.name) != nil {
				t.Fatalf("accepted specialisation name %q", s.name)
			}
			all = append(all, s.v1)
		}
		if !slices.IsSortedFunc(specs, func(a, b namedSpec) int { return strings.Compare(a.name, b.name) }) {
			t.Fatal("specialisations not sorted")
		}
		for _, b := range all {
			for _, p := range []string{b.Init, b.Kernel, b.Initrd, b.Toplevel} {
				if !path.IsAbs(p) {
					t.Fatalf("accepted path %q", p)
				}
			}
			if b.KernelParams == nil || b.System == "" {
				t.Fatal("accepted a bootspec without kernelParams or system")
			}
			for _, p := range *b.KernelParams {
				if p == "" || strings.ContainsAny(p, " \t\n") {
					t.Fatalf("accepted kernel parameter %q", p)
				}
			}
		}
	})
}

// FuzzMenus feeds the menu parsers any text, its first 256 bytes: the parsers' every
// construct fits, and Go's minimiser, quadratic in an input's length, stalled the fuzzer for
// half a minute on each longer input that found new coverage.
func FuzzMenus(f *testing.F) {
	f.Add([]byte("LABEL a\nMENU LABEL A\nLINUX /k\nAPPEND x=1\nMENU BEGIN s\nLABEL b\nMENU END\n"))
	f.Add([]byte("submenu 'x' {\nmenuentry \"a\\\"b\" --id i {\n linux /k a 'b c'\n initrd /i\n}\n}\n}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		b = b[:min(len(b), 256)]
		for _, e := range append(ParseIsolinux(b), ParseGrub(b)...) {
			if len(e.Title)+len(e.Kernel)+len(e.Initrd)+len(e.Params) > 2*len(b) {
				t.Errorf("entry %+v longer than its input", e)
			}
		}
	})
}

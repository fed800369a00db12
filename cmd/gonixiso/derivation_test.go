package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gonixiso/gonixiso/internal/boottest"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

var (
	staticOnce sync.Once
	staticPath string
	staticErr  error
)

// staticGonixiso builds gonixiso from this checkout, statically linked, and adds it to the store
// (nix-store --add: a store path named by its contents), once per test process: the builder of
// the test flake's ISO derivations, which the sandbox runs with nothing of the host's.
func staticGonixiso(t *testing.T) string {
	t.Helper()
	staticOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gonixiso-static-")
		if err != nil {
			staticErr = err
			return
		}
		defer os.RemoveAll(dir)
		pkg := filepath.Join(dir, "gonixiso")
		cmd := exec.Command("go", "build", "-tags", "netgo,osusergo", "-ldflags", "-linkmode external -extldflags -static",
			"-o", filepath.Join(pkg, "bin", "gonixiso"), ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			staticErr = fmt.Errorf("go build (static): %v\n%s", err, out)
			return
		}
		out, err := exec.Command("nix-store", "--add", pkg).Output()
		if err != nil {
			staticErr = fmt.Errorf("nix-store --add: %v", err)
			return
		}
		staticPath = strings.TrimSpace(string(out))
	})
	if staticErr != nil {
		t.Fatal(staticErr)
	}
	return staticPath
}

// nixBuildExpr builds a Nix expression over the test flake (as `flake`) and returns the output.
func nixBuildExpr(t *testing.T, expr string) string {
	t.Helper()
	root := testsystem.Root(t)
	full := fmt.Sprintf(`let flake = builtins.getFlake "git+file://%s?dir=testdata/system"; in %s`, root, expr)
	link := filepath.Join(t.TempDir(), "result")
	out, err := exec.Command("nix", "build", "--impure", "-o", link, "--expr", full).CombinedOutput()
	if err != nil {
		t.Fatalf("nix build %s: %v\n%s", expr, err, out)
	}
	p, err := filepath.EvalSymlinks(link)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestISODerivation builds the ISO as a derivation (nix/image.nix, the module's
// system.build.gonixisoImage): gonixiso in Nix's sandbox, with the closure from
// exportReferencesGraph. Its output is laid out as nixpkgs' isoImage's, for Hydra, and its ISO is
// the bytes gonixiso build makes of the same configuration; it boots.
func TestISODerivation(t *testing.T) {
	testsystem.Require(t, "nix", "nix-store")
	g := staticGonixiso(t)
	for _, tc := range []struct {
		config, file string
		local        func(t *testing.T) string
	}{
		{testsystem.Name, "nixos-25.11.20261125.gonixiso-x86_64-linux.iso", builtISO},
		{testsystem.CustomName, "gonixiso-custom-test.iso.zst", func(t *testing.T) string { _, zst := customImage(t); return zst }},
	} {
		t.Run(tc.config, func(t *testing.T) {
			out := nixBuildExpr(t, fmt.Sprintf(`flake.lib.isoImage { gonixiso = builtins.storePath %q; configuration = flake.nixosConfigurations.%q; }`, g, tc.config))
			iso := filepath.Join(out, "iso", tc.file)
			products, err := os.ReadFile(filepath.Join(out, "nix-support", "hydra-build-products"))
			if err != nil || string(products) != "file iso "+iso+"\n" {
				t.Errorf("hydra-build-products %q, %v; want it to name %s", products, err, iso)
			}
			if !sameBytes(t, iso, tc.local(t)) {
				t.Errorf("the derivation's %s differs from gonixiso build's", tc.file)
			}
			if tc.config == testsystem.Name && !testing.Short() {
				res, err := boottest.Boot(context.Background(), boottest.Options{ISO: iso, Mode: boottest.USBBIOS})
				if err != nil {
					t.Fatal(err)
				}
				if res.Outcome != boottest.Pass {
					t.Errorf("usb-bios: %s: %s\n%s", res.Outcome, res.Reason, res.Tail)
				}
			}
		})
	}
}

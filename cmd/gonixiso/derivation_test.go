package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// nixExpr is a Nix expression over the test flake (as `flake`), for nix's --expr.
func nixExpr(t *testing.T, expr string) string {
	return fmt.Sprintf(`let flake = builtins.getFlake "git+file://%s?dir=testdata/system"; in %s`, testsystem.Root(t), expr)
}

// nixOut runs nix with args and returns its standard output; a failure fails the test with
// both outputs.
func nixOut(t *testing.T, args ...string) string {
	t.Helper()
	var stderr strings.Builder
	cmd := exec.Command("nix", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// dryRun returns the derivations `nix build --dry-run` of the expression says it would build and
// the store paths it would fetch, by name (without hash and .drv).
func dryRun(t *testing.T, expr string, extra ...string) (build, fetch []string) {
	t.Helper()
	args := append([]string{"build", "--dry-run", "--impure", "--expr", expr}, extra...)
	cmd := exec.Command("nix", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nix %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var list *[]string
	for _, l := range strings.Split(string(out), "\n") {
		switch {
		case strings.Contains(l, "will be built:"):
			list = &build
		case strings.Contains(l, "will be fetched"):
			list = &fetch
		case strings.HasPrefix(l, "  /nix/store/") && list != nil:
			name := strings.TrimSuffix(filepath.Base(strings.TrimSpace(l)), ".drv")
			*list = append(*list, name[33:])
		default:
			list = nil
		}
	}
	return build, fetch
}

// TestISODerivationIncremental builds the ISO from a segment derivation per store path
// (nix/image-incremental.nix, the module's system.build.gonixisoImageIncremental): the same bytes
// as gonixiso build (and so as the one-derivation ISO, which boots). After one store path changes
// (the test system's toplevel with a note), `nix build --dry-run` lists only that path's segment
// and the image. The segments, copied to a file:// binary cache, let a fresh store build the ISO
// without compressing anything.
func TestISODerivationIncremental(t *testing.T) {
	testsystem.Require(t, "nix", "nix-store")
	g := staticGonixiso(t)
	image := func(config string) string {
		// Parenthesised: attribute selection binds tighter than application.
		return nixExpr(t, fmt.Sprintf(`(flake.lib.isoImageIncremental { gonixiso = builtins.storePath %q; configuration = flake.nixosConfigurations.%q; })`, g, config))
	}
	out := nixBuildExpr(t, fmt.Sprintf(`flake.lib.isoImageIncremental { gonixiso = builtins.storePath %q; configuration = flake.nixosConfigurations.%q; }`, g, testsystem.Name))
	iso := filepath.Join(out, "iso", "nixos-25.11.20261125.gonixiso-x86_64-linux.iso")
	if !sameBytes(t, iso, builtISO(t)) {
		t.Fatal("the incremental derivation's ISO differs from gonixiso build's")
	}

	// One store path changed: its segment and the image are all there is to build.
	build, _ := dryRun(t, image("gonixiso-test-note"))
	slices.Sort(build)
	if want := []string{"gonixiso-image", "gonixiso-segment-nixos-system-gonixiso-test-25.11.20261125.gonixiso"}; !slices.Equal(build, want) {
		t.Errorf("after the toplevel changed, nix build --dry-run would build %q, want %q", build, want)
	}

	// A binary cache with everything the image's derivation needs, segments included, and a
	// fresh store that substitutes from it: the image is the one derivation it builds.
	dir := t.TempDir()
	bc := "file://" + filepath.Join(dir, "binary-cache")
	drv := strings.TrimSpace(nixOut(t, "eval", "--raw", "--impure", "--expr", image(testsystem.Name)+".drvPath"))
	plan := strings.TrimSpace(nixOut(t, "eval", "--raw", "--impure", "--expr", image(testsystem.Name)+".plan.outPath"))
	closure, err := exec.Command("nix-store", "-qR", "--include-outputs", drv).Output()
	if err != nil {
		t.Fatalf("nix-store -qR --include-outputs %s: %v", drv, err)
	}
	inputs := strings.Fields(string(closure))
	var paths []string
	for _, p := range inputs {
		if !strings.HasSuffix(p, ".drv") && p != out {
			paths = append(paths, p)
		}
	}
	nixOut(t, append([]string{"copy", "--to", bc, plan}, paths...)...)
	fresh := []string{"--store", filepath.Join(dir, "store"), "--substituters", bc, "--option", "require-sigs", "false"}
	build, fetch := dryRun(t, image(testsystem.Name), fresh...)
	if !slices.Equal(build, []string{"gonixiso-image"}) {
		t.Errorf("a fresh store with the binary cache would build %q, want the image alone", build)
	}
	segments := 0
	for _, f := range fetch {
		if strings.HasPrefix(f, "gonixiso-segment-") {
			segments++
		}
	}
	if segments == 0 {
		t.Errorf("a fresh store would fetch no segment: %q", fetch)
	}
	link := filepath.Join(dir, "result")
	nixOut(t, append([]string{"build", "--impure", "-o", link, "--expr", image(testsystem.Name)}, fresh...)...)
	target, err := os.Readlink(link)
	if err != nil {
		t.Fatal(err)
	}
	freshISO := filepath.Join(dir, "store", target, "iso", filepath.Base(iso))
	if !sameBytes(t, freshISO, iso) {
		t.Error("the fresh store's ISO differs")
	}
}

// TestNixCache builds the test system with Nix as the segment cache and a file:// binary cache
// (--cache URL): the segments are derivations that Nix builds, then copies to the binary cache;
// on a second machine (the segments deleted from the local store) they are fetched, none built.
// Both ISOs are a build's without a cache. A gonixiso outside the store is refused, with the way
// out.
func TestNixCache(t *testing.T) {
	testsystem.Require(t, "nix", "nix-build", "nix-store")
	g := staticGonixiso(t)
	top := testsystem.Toplevel(t)
	dir := t.TempDir()
	bc := filepath.Join(dir, "binary-cache")
	t.Setenv("NIX_CONFIG", "require-sigs = false") // the binary cache is not signed
	flags := []string{"--toplevel", top, "--comp", "zstd", "--level", "3", "-q"}
	run := func(out string, args ...string) string {
		t.Helper()
		log, code := runCLI(t, append(append([]string{"assemble", "-o", filepath.Join(dir, out)}, flags...), args...)...)
		if code != 0 {
			t.Fatalf("gonixiso assemble %v: exit %d\n%s", args, code, log)
		}
		return log
	}
	if log, code := runCLI(t, append([]string{"assemble", "-o", filepath.Join(dir, "x.iso"), "--cache", "file://" + bc}, flags...)...); code != 2 || !strings.Contains(log, "--nix-gonixiso") {
		t.Errorf("--cache URL with a gonixiso outside the store: exit %d\n%s", code, log)
	}
	run("plain.iso", "--no-cache")
	flags = flags[:len(flags)-1] // the summaries, now
	counts := func(log string) (built, fetched int) {
		t.Helper()
		i := strings.Index(log, "segments: Nix built")
		if i < 0 {
			return 0, 0 // the summary names no segment Nix built or fetched
		}
		if _, err := fmt.Sscanf(log[i:], "segments: Nix built %d and fetched %d", &built, &fetched); err != nil {
			t.Fatalf("no count of segments in\n%s", log)
		}
		return built, fetched
	}
	// The segments in the binary cache, by store path.
	cached := func() []string {
		t.Helper()
		infos, _ := filepath.Glob(filepath.Join(bc, "*.narinfo"))
		var segments []string
		for _, f := range infos {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range strings.Split(string(b), "\n") {
				if p, ok := strings.CutPrefix(l, "StorePath: "); ok && strings.Contains(p, "-gonixiso-segment-") {
					segments = append(segments, p)
				}
			}
		}
		if len(segments) == 0 {
			t.Fatalf("no segment in the binary cache (%d narinfo files)", len(infos))
		}
		return segments
	}
	deleteSegments := func(segments []string) {
		t.Helper()
		if out, err := exec.Command("nix-store", append([]string{"--delete"}, segments...)...).CombinedOutput(); err != nil {
			t.Fatalf("nix-store --delete of the segments: %v\n%s", err, out)
		}
	}
	log := run("first.iso", "--cache", "file://"+bc, "--nix-gonixiso", g)
	if built, fetched := counts(log); built == 0 && fetched == 0 {
		// An earlier run of this gonixiso left its segments in the store (the second
		// machine below fetches them): delete them, so that Nix builds them here.
		deleteSegments(cached())
		if err := os.RemoveAll(bc); err != nil {
			t.Fatal(err)
		}
		log = run("first.iso", "--cache", "file://"+bc, "--nix-gonixiso", g)
	}
	if !sameBytes(t, filepath.Join(dir, "first.iso"), filepath.Join(dir, "plain.iso")) {
		t.Fatal("the ISO with Nix as the cache differs from a build without a cache")
	}
	if built, fetched := counts(log); built == 0 || fetched != 0 {
		t.Errorf("first build: Nix built %d segments and fetched %d, want all built\n%s", built, fetched, log)
	}
	// The binary cache has the segments: delete them here, as on another machine.
	segments := cached()
	deleteSegments(segments)
	log = run("second.iso", "--cache", "file://"+bc, "--nix-gonixiso", g)
	// Leave the store as it was found: a rerun of the same gonixiso builds them again.
	t.Cleanup(func() { exec.Command("nix-store", append([]string{"--delete"}, segments...)...).Run() })
	if built, fetched := counts(log); built != 0 || fetched != len(segments) {
		t.Errorf("second machine: Nix built %d segments and fetched %d, want none built and %d fetched\n%s", built, fetched, len(segments), log)
	}
	if !sameBytes(t, filepath.Join(dir, "second.iso"), filepath.Join(dir, "plain.iso")) {
		t.Error("the ISO from fetched segments differs from a build without a cache")
	}
}

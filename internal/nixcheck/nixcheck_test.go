package nixcheck

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/gonixiso/gonixiso/closure/nar"
	"github.com/gonixiso/gonixiso/internal/testsystem"
)

// TestNixFilesParse runs `nix-instantiate --parse` on every .nix file of the repository.
func TestNixFilesParse(t *testing.T) {
	testsystem.Require(t, "nix-instantiate")
	root := testsystem.Root(t)
	var files []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || strings.HasPrefix(d.Name(), "result")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".nix") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"flake.nix", "nix/module.nix", "nix/spec.nix", "nix/package.nix", "testdata/system/flake.nix"} {
		if !contains(files, filepath.Join(root, want)) {
			t.Errorf("%s is missing", want)
		}
	}
	for _, f := range files {
		if out, err := exec.Command("nix-instantiate", "--parse", f).CombinedOutput(); err != nil {
			rel, _ := filepath.Rel(root, f)
			t.Errorf("%s does not parse: %v\n%s", rel, err, out)
		}
	}
}

// readsRE matches the module's reads of a configuration: a helper and an option path in quotes.
var readsRE = regexp.MustCompile(`\b(?:get|getIn|getOr|has|definedIn|getPath)\s+(?:[A-Za-z_][\w.]*\s+)?"([A-Za-z0-9_.-]+)"`)

// TestModuleReadsKnownOptions is the drift check: every option path nix/module.nix reads is one
// that the copied iso-image.nix declares, sets or reads (testdata/nixpkgs/iso-image-options.txt),
// and testdata/nixpkgs/module-reads.txt lists exactly the paths the module reads.
func TestModuleReadsKnownOptions(t *testing.T) {
	root := testsystem.Root(t)
	code := nixCode(t, filepath.Join(root, "nix", "module.nix"))
	found := map[string]bool{}
	for _, m := range readsRE.FindAllStringSubmatch(code, -1) {
		found[m[1]] = true
	}
	if len(found) < 20 {
		t.Fatalf("found only %d option reads in nix/module.nix; has the way it reads options changed?", len(found))
	}
	known := lines(t, filepath.Join(root, "testdata", "nixpkgs", "iso-image-options.txt"))
	listed := lines(t, filepath.Join(root, "testdata", "nixpkgs", "module-reads.txt"))
	for _, p := range sortedKeys(found) {
		if !known[p] {
			t.Errorf("nix/module.nix reads %s, which the copied iso-image.nix neither declares nor reads (testdata/nixpkgs/iso-image-options.txt): renamed or removed in nixpkgs?", p)
		}
		if !listed[p] {
			t.Errorf("nix/module.nix reads %s, missing from testdata/nixpkgs/module-reads.txt", p)
		}
	}
	for _, p := range sortedKeys(listed) {
		if !found[p] {
			t.Errorf("testdata/nixpkgs/module-reads.txt lists %s, which nix/module.nix does not read", p)
		}
	}
}

// TestModuleReadsOnlyThroughHelpers keeps the drift check honest: outside comments, nix/module.nix
// never reads config.x or options.x directly, where the check above would not see it.
func TestModuleReadsOnlyThroughHelpers(t *testing.T) {
	code := nixCode(t, filepath.Join(testsystem.Root(t), "nix", "module.nix"))
	direct := regexp.MustCompile(`\b(config|options)\.([A-Za-z_][\w.]*)`)
	for _, m := range direct.FindAllStringSubmatch(code, -1) {
		if m[0] == "options.gonixiso" || strings.HasPrefix(m[0], "config.gonixiso.") { // the module's own option
			continue
		}
		t.Errorf("nix/module.nix reads %s directly; use get/getOr/has so the drift check sees it", m[0])
	}
}

// TestReservedTargetsDocumented checks that docs/spec.md names every isoImage.contents target the
// module leaves out of the spec.
func TestReservedTargetsDocumented(t *testing.T) {
	root := testsystem.Root(t)
	code := nixCode(t, filepath.Join(root, "nix", "module.nix"))
	start := strings.Index(code, "reservedTargets = [")
	if start < 0 {
		t.Fatal("nix/module.nix has no reservedTargets list")
	}
	end := strings.Index(code[start:], "]")
	targets := regexp.MustCompile(`"(/[^"$]*)"`).FindAllStringSubmatch(code[start:start+end], -1)
	if len(targets) < 15 {
		t.Fatalf("found only %d targets in reservedTargets", len(targets))
	}
	doc := readFile(t, filepath.Join(root, "docs", "spec.md"))
	for _, m := range targets {
		if !strings.Contains(doc, "`"+m[1]+"`") {
			t.Errorf("docs/spec.md does not name the target `%s` that nix/module.nix leaves out", m[1])
		}
	}
}

// TestModuleAgainstMockedNixpkgs requires every check of testdata/system/module-mock.nix to hold:
// nix/module.nix, evaluated against mocks of the current and of a 23.11 nixpkgs, gives the specs
// the test system writes itself.
func TestModuleAgainstMockedNixpkgs(t *testing.T) {
	testsystem.Require(t, "nix")
	root := testsystem.Root(t)
	out := nixRun(t, root, "eval", "--json", testsystem.FlakeRef(root)+"#lib.moduleChecks")
	var checks map[string]bool
	if err := json.Unmarshal(out, &checks); err != nil {
		t.Fatalf("lib.moduleChecks: %v\n%s", err, out)
	}
	if len(checks) < 10 {
		t.Fatalf("lib.moduleChecks has %d checks, want at least 10: %s", len(checks), out)
	}
	for _, name := range sortedKeys(checks) {
		if !checks[name] {
			t.Errorf("module check %s does not hold", name)
		}
	}
}

// TestSpecs builds both specs of the test system and checks them against the format: the fields
// docs/spec.md describes, the values each configuration sets, and every store path the JSON names
// among the spec file's references, so that building the spec realises everything the ISO needs.
func TestSpecs(t *testing.T) {
	testsystem.Require(t, "nix", "nix-store")
	root := testsystem.Root(t)
	doc := readFile(t, filepath.Join(root, "docs", "spec.md"))
	for _, name := range []string{testsystem.Name, testsystem.Name + "-custom"} {
		t.Run(name, func(t *testing.T) {
			attr := fmt.Sprintf("%s#nixosConfigurations.%s.config.system.build", testsystem.FlakeRef(root), name)
			var built []struct {
				Outputs map[string]string `json:"outputs"`
			}
			out := nixRun(t, root, "build", "--no-link", "--json", attr+".gonixiso")
			if err := json.Unmarshal(out, &built); err != nil || len(built) != 1 {
				t.Fatalf("nix build: %v\n%s", err, out)
			}
			path := built[0].Outputs["out"]
			raw := readFile(t, path)
			var spec map[string]any
			if err := json.Unmarshal([]byte(raw), &spec); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			toplevel := strings.TrimSpace(string(nixRun(t, root, "eval", "--raw", attr+".toplevel.outPath")))
			if spec["version"] != 1.0 || spec["system"] != "x86_64-linux" || spec["toplevel"] != toplevel {
				t.Errorf("version %v, system %v, toplevel %v; want 1, x86_64-linux, %s", spec["version"], spec["system"], spec["toplevel"], toplevel)
			}

			// Every field is described in docs/spec.md under its full name.
			for _, f := range fieldPaths(spec, "") {
				if !strings.Contains(doc, "`"+f+"`") {
					t.Errorf("docs/spec.md does not describe `%s`", f)
				}
			}

			// Every store path named is a reference of the spec file, and all of them are.
			refs := map[string]bool{}
			for _, r := range strings.Fields(string(runOut(t, "nix-store", "-q", "--references", path))) {
				refs[r] = true
			}
			named := map[string]bool{}
			for _, s := range storePaths(spec) {
				named[s] = true
				if !refs[s] {
					t.Errorf("%s names %s, which is not among its references", path, s)
				}
			}
			for r := range refs {
				if !named[r] {
					t.Errorf("%s refers to %s, which it does not name", path, r)
				}
			}

			checkValues(t, name, spec)
		})
	}
}

func checkValues(t *testing.T, name string, spec map[string]any) {
	t.Helper()
	get := func(p string) any {
		var v any = spec
		for _, k := range strings.Split(p, ".") {
			m, ok := v.(map[string]any)
			if !ok {
				return fmt.Sprintf("<no %s>", p)
			}
			v = m[k]
		}
		return v
	}
	want := map[string]any{}
	if name == testsystem.Name {
		want = map[string]any{
			"isoImage.volumeID":                                           testsystem.VolumeID,
			"isoImage.squashfsCompression":                                "zstd -Xcompression-level 19",
			"isoImage.makeBiosBootable":                                   true,
			"isoImage.makeEfiBootable":                                    true,
			"isoImage.makeUsbBootable":                                    true,
			"isoImage.appendToMenuLabel":                                  " Installer",
			"isoImage.prependToMenuLabel":                                 "",
			"isoImage.configurationName":                                  nil,
			"isoImage.showConfiguration":                                  true,
			"isoImage.forceTextMode":                                      false,
			"isoImage.splashImage":                                        nil,
			"isoImage.grubTheme":                                          nil,
			"isoImage.compressImage":                                      false,
			"boot.loader.timeout":                                         10.0,
			"boot.loader.grub.memtest86.enable":                           false,
			"packages.memtest86plus":                                      nil,
			"specialisation.alt.configuration.isoImage.showConfiguration": true,
			"specialisation.alt.configuration.isoImage.configurationName": nil,
			"image.fileName":                                              "nixos-25.11.20261125.gonixiso-x86_64-linux.iso",
		}
		for _, p := range []string{"packages.syslinux", "packages.grub2_efi"} {
			if s, _ := get(p).(string); !strings.HasPrefix(s, "/nix/store/") {
				t.Errorf("%s = %v, want a store path", p, get(p))
			}
		}
	} else {
		want = map[string]any{
			"isoImage.volumeID":                                              "gonixiso-custom-x86_64",
			"isoImage.squashfsCompression":                                   "xz -Xdict-size 100% -Xbcj x86",
			"isoImage.makeBiosBootable":                                      false,
			"isoImage.makeEfiBootable":                                       true,
			"isoImage.appendToMenuLabel":                                     " Live",
			"isoImage.prependToMenuLabel":                                    "Try ",
			"isoImage.configurationName":                                     "(Custom)",
			"isoImage.forceTextMode":                                         true,
			"isoImage.compressImage":                                         true,
			"image.fileName":                                                 "gonixiso-custom-test.iso.zst",
			"boot.loader.timeout":                                            3.0,
			"boot.loader.grub.memtest86.enable":                              true,
			"packages.syslinux":                                              nil,
			"specialisation.alt.configuration.isoImage.configurationName":    "(Alternative)",
			"specialisation.alt.configuration.isoImage.appendToMenuLabel":    " Live alt",
			"specialisation.alt.configuration.isoImage.prependToMenuLabel":   "Try ",
			"specialisation.hidden.configuration.isoImage.appendToMenuLabel": " Live",
			"specialisation.hidden.configuration.isoImage.showConfiguration": false,
		}
		for _, p := range []string{"isoImage.splashImage", "isoImage.efiSplashImage", "isoImage.grubTheme", "packages.memtest86plus", "packages.memtest86plusFile", "packages.grub2_efi"} {
			if s, _ := get(p).(string); !strings.HasPrefix(s, "/nix/store/") {
				t.Errorf("%s = %v, want a store path", p, get(p))
			}
		}
		contents, _ := get("isoImage.contents").([]any)
		if len(contents) != 2 {
			t.Fatalf("isoImage.contents = %v, want 2 entries", get("isoImage.contents"))
		}
		first := contents[0].(map[string]any)
		if first["target"] != "/gonixiso/hello.txt" || readFile(t, first["source"].(string)) != "gonixiso isoImage.contents test\n" {
			t.Errorf("isoImage.contents[0] = %v, want the test file at /gonixiso/hello.txt", first)
		}
		store, _ := get("isoImage.storeContents").([]any)
		if len(store) != 1 || !strings.HasSuffix(store[0].(string), "-gonixiso-test-extra-store-path") {
			t.Errorf("isoImage.storeContents = %v, want the extra store path", store)
		}
		closure := runOut(t, "nix-store", "-qR", get("toplevel").(string))
		if bytes.Contains(closure, []byte("gonixiso-test-extra-store-path")) {
			t.Errorf("the extra store path is in the toplevel's closure; storeContents would prove nothing")
		}
	}
	for p, w := range want {
		if g := get(p); fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("%s = %#v, want %#v", p, g, w)
		}
	}
}

// TestFlake evaluates the root flake's outputs with a stand-in for nixpkgs (nixpkgs cannot be
// fetched here): the outputs a user and issue 13 expect are there, and lib.mkSpec and
// nixosModules.default are the spec writer and the module.
func TestFlake(t *testing.T) {
	testsystem.Require(t, "nix-instantiate")
	root := testsystem.Root(t)
	expr := `let
	  flake = import ./flake.nix;
	  stub = {
	    lib = { genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names); getExe = d: "${d}/bin/x"; };
	    legacyPackages = { x86_64-linux = { }; aarch64-linux = { }; };
	  };
	  out = flake.outputs { self = out // { shortRev = "test"; }; nixpkgs = stub; };
	in {
	  outputs = builtins.attrNames out;
	  inputs = builtins.attrNames flake.inputs;
	  mkSpec = builtins.isFunction out.lib.mkSpec && builtins.isFunction (out.lib.mkSpec { writeText = null; });
	  module = builtins.isFunction out.nixosModules.default;
	  packages = builtins.attrNames out.packages.x86_64-linux;
	}`
	cmd := exec.Command("nix-instantiate", "--eval", "--strict", "--json", "-E", expr)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("evaluating flake.nix: %v\n%s", err, out)
	}
	var got struct {
		Outputs, Inputs, Packages []string
		MkSpec, Module            bool
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, o := range []string{"apps", "checks", "devShells", "lib", "nixosModules", "overlays", "packages"} {
		if !contains(got.Outputs, o) {
			t.Errorf("flake.nix has no output %s (outputs: %v)", o, got.Outputs)
		}
	}
	if !contains(got.Inputs, "nixpkgs") || !contains(got.Packages, "default") {
		t.Errorf("inputs %v, packages %v", got.Inputs, got.Packages)
	}
	if !got.MkSpec || !got.Module {
		t.Errorf("lib.mkSpec is a writer function: %v; nixosModules.default is a module function: %v", got.MkSpec, got.Module)
	}
}

// TestVendorHash keeps nix/package.nix's vendorHash the hash buildGoModule will find: the NAR
// hash of what `go mod vendor` writes (buildGoModule's goModules output is that folder), made
// here from the module cache scripts/setup filled and hashed with package nar. A change of
// go.mod or go.sum without a new vendorHash fails here, not on a user's machine.
func TestVendorHash(t *testing.T) {
	src := readFile(t, filepath.Join(testsystem.Root(t), "nix", "package.nix"))
	m := regexp.MustCompile(`(?m)^\s*vendorHash = "(sha256-[A-Za-z0-9+/]{43}=)";`).FindStringSubmatch(src)
	if m == nil {
		t.Fatal(`nix/package.nix has no vendorHash = "sha256-...";`)
	}
	vendor := filepath.Join(t.TempDir(), "vendor")
	cmd := exec.Command("go", "mod", "vendor", "-o", vendor)
	cmd.Dir = testsystem.Root(t)
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod vendor (offline, from the module cache scripts/setup fills): %v\n%s", err, out)
	}
	h := sha256.New()
	if err := nar.DumpPath(h, vendor); err != nil {
		t.Fatal(err)
	}
	if got := "sha256-" + base64.StdEncoding.EncodeToString(h.Sum(nil)); got != m[1] {
		t.Errorf("nix/package.nix: vendorHash = %q, but the vendored modules hash to %q: put that there", m[1], got)
	}
}

// nixCode returns a Nix file without its comments (# to the end of a line, outside strings is
// close enough for the module, whose strings hold no #).
func nixCode(t *testing.T, path string) string {
	t.Helper()
	var b strings.Builder
	sc := bufio.NewScanner(strings.NewReader(readFile(t, path)))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// lines reads a list file: one entry a line, '#' comments and blank lines ignored.
func lines(t *testing.T, path string) map[string]bool {
	t.Helper()
	set := map[string]bool{}
	for _, l := range strings.Split(readFile(t, path), "\n") {
		if i := strings.Index(l, "#"); i >= 0 {
			l = l[:i]
		}
		if l = strings.TrimSpace(l); l != "" {
			set[l] = true
		}
	}
	if len(set) == 0 {
		t.Fatalf("%s lists nothing", path)
	}
	return set
}

// fieldPaths lists the spec's field paths, with a specialisation's name written <name>.
func fieldPaths(v any, prefix string) []string {
	m, ok := v.(map[string]any)
	if !ok {
		if l, ok := v.([]any); ok && len(l) > 0 {
			if _, ok := l[0].(map[string]any); ok {
				return fieldPaths(l[0], prefix+"[]")
			}
		}
		return []string{prefix}
	}
	var out []string
	for k, x := range m {
		p := k
		if prefix == "specialisation" {
			p = "<name>"
		}
		if prefix != "" {
			p = prefix + "." + p
		}
		out = append(out, fieldPaths(x, p)...)
	}
	sort.Strings(out)
	return out
}

// storePaths lists the store paths a spec names (a path below one counts as that store path).
func storePaths(v any) []string {
	switch x := v.(type) {
	case string:
		if rest, ok := strings.CutPrefix(x, "/nix/store/"); ok {
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				rest = rest[:i]
			}
			return []string{"/nix/store/" + rest}
		}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, storePaths(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, e := range x {
			out = append(out, storePaths(e)...)
		}
		return out
	}
	return nil
}

func nixRun(t *testing.T, dir string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("nix", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nix %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func runOut(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/gonixiso/gonixiso/nix"
)

func buildCommand() *cli.Command {
	return &cli.Command{
		Name:      "build",
		Usage:     "nix build a NixOS configuration's ISO spec, then assemble what it says",
		UsageText: "gonixiso build --flake .#name [options]",
		Description: "Builds the ISO spec of nixosConfigurations.name with `nix build`: its\n" +
			"config.system.build.gonixiso where the configuration imports gonixiso's NixOS module,\n" +
			"else the same spec from its isoImage options where it imports nixpkgs' iso-image.nix\n" +
			"(one nix build realises the toplevel and everything the ISO needs), then assembles the\n" +
			"ISO as `gonixiso assemble --spec` does: the configuration is the source of truth, and each\n" +
			"flag given overrides its value. A configuration with neither gets an error that shows the\n" +
			"two lines to add. A reference with a longer attribute path (\".#x.y.z\") is built as given\n" +
			"and assembled as a bare toplevel. Works with Nix 2.8 and newer.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "flake", Aliases: []string{"f"}, Usage: "flake reference: .#name, path:/dir#name, github:owner/repo#name, ... (required)"},
			&cli.StringSliceFlag{Name: "nix-option", Usage: "extra argument for nix build (repeatable), e.g. --nix-option=--offline"},
		}, imageFlags()...),
		OnUsageError: usageError,
		Action:       buildFlake,
	}
}

// buildFlake builds the ISO of --flake: through the configuration's spec, or, for a longer
// attribute path, as a bare toplevel.
func buildFlake(c *cli.Context) error {
	ref := c.String("flake")
	if ref == "" {
		return &exitError{exitFailure, errors.New("build needs --flake (see gonixiso build --help)")}
	}
	flake, frag, ok := strings.Cut(ref, "#")
	if !ok || frag == "" {
		return &exitError{exitFailure, fmt.Errorf("--flake %q: want FLAKE#NAME, e.g. .#installer", ref)}
	}
	if flake == "" {
		flake = "."
	}
	if strings.Contains(frag, ".") {
		top, cleanup, err := nixBuild(c, []string{flake + "#" + frag}, ref)
		if err != nil {
			return err
		}
		defer cleanup()
		return runAssemble(c, top, nil)
	}
	specPath, cleanup, err := buildSpec(c, flake, frag)
	if err != nil {
		return err
	}
	defer cleanup()
	s, err := readSpec(specPath)
	if err != nil {
		return err
	}
	return runAssemble(c, "", s)
}

// buildSpec builds the ISO spec of the flake's nixosConfigurations.name with nix/
// from-configuration.nix, and returns its store path.
func buildSpec(c *cli.Context, flake, name string) (string, func(), error) {
	if local, err := localFlake(flake); err != nil {
		return "", nil, &exitError{exitFailure, err}
	} else if local != "" {
		flake = local
	}
	dir, err := os.MkdirTemp("", "gonixiso-nix-")
	if err != nil {
		return "", nil, err
	}
	fromConfig, err := nix.WriteTo(dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	expr := fmt.Sprintf("import %s { nixos = (builtins.getFlake %s).nixosConfigurations.%s; }",
		nixString(fromConfig), nixString(flake), nixAttr(name))
	p, cleanup, err := nixBuild(c, []string{"--impure", "--expr", expr}, flake+"#"+name)
	os.RemoveAll(dir)
	return p, cleanup, err
}

// localFlake returns, for a flake reference that is a local folder ("." or "./x", "/x",
// "path:x"), the reference the nix command would make of it, which builtins.getFlake takes only
// spelled out: git+file://<repository>?dir=<folder> inside a git repository (so that a flake may
// import files of the repository outside its folder, and only files git tracks are seen), else
// path:<absolute folder>. "" for any other reference.
func localFlake(flake string) (string, error) {
	p, isPath := strings.CutPrefix(flake, "path:")
	if !isPath && !strings.HasPrefix(flake, "/") && !strings.HasPrefix(flake, ".") {
		return "", nil
	}
	p, _, _ = strings.Cut(p, "?")
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("--flake %s: %w", flake, err)
	}
	if !isPath {
		for repo := abs; ; repo = filepath.Dir(repo) {
			if _, err := os.Stat(filepath.Join(repo, ".git")); err == nil {
				ref := "git+file://" + repo
				if rel, _ := filepath.Rel(repo, abs); rel != "." {
					ref += "?dir=" + rel
				}
				return ref, nil
			}
			if repo == "/" {
				break
			}
		}
	}
	return "path:" + abs, nil
}

// nixString writes s as a Nix string literal.
func nixString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", `\${`).Replace(s) + `"`
}

var nixIdent = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_'-]*$`)

// nixAttr writes an attribute name, quoted unless it is an identifier.
func nixAttr(s string) string {
	if nixIdent.MatchString(s) {
		return s
	}
	return nixString(s)
}

// nixBuild runs `nix build` with args (an installable, or an --expr) with its progress on our
// standard error, and returns the built store path. The result link, in a temporary folder,
// keeps it from the garbage collector until cleanup. what names the build in errors.
func nixBuild(c *cli.Context, args []string, what string) (string, func(), error) {
	nixBin, err := exec.LookPath("nix")
	if err != nil {
		return "", nil, errors.New("nix is not installed (gonixiso build runs `nix build`; gonixiso assemble takes a spec or a toplevel built already)")
	}
	dir, err := os.MkdirTemp("", "gonixiso-build-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	link := filepath.Join(dir, "result")
	// --json prints the outputs on Nix 2.8 (no --print-out-paths there) as on newer Nix; the
	// result link is the garbage collector root.
	full := []string{"--extra-experimental-features", "nix-command flakes", "build", "--json", "--out-link", link}
	if !globalBool(c, "quiet") {
		full = append(full, "--print-build-logs")
	}
	full = append(full, c.StringSlice("nix-option")...)
	full = append(full, args...)
	cmd := exec.CommandContext(c.Context, nixBin, full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if !globalBool(c, "quiet") {
		cmd.Stderr = io.MultiWriter(c.App.ErrWriter, &stderr)
	}
	if globalBool(c, "verbose") {
		quoted := make([]string, len(full))
		for i, a := range full {
			quoted[i] = strconv.Quote(a)
		}
		fmt.Fprintf(c.App.ErrWriter, "gonixiso: nix %s\n", strings.Join(quoted, " "))
	}
	out, err := cmd.Output()
	if err != nil {
		cleanup()
		msg := strings.TrimSpace(stderr.String())
		if i := strings.LastIndex(msg, "error:"); i >= 0 {
			msg = msg[i:]
		}
		return "", nil, &exitError{exitFailure, fmt.Errorf("nix build %s: %w\n%s", what, err, msg)}
	}
	var results []struct {
		Outputs map[string]string `json:"outputs"`
	}
	if err := json.Unmarshal(out, &results); err != nil || len(results) != 1 || results[0].Outputs["out"] == "" {
		cleanup()
		return "", nil, fmt.Errorf("nix build %s: unexpected output %q", what, out)
	}
	return results[0].Outputs["out"], cleanup, nil
}

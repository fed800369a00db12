package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
)

func buildCommand() *cli.Command {
	return &cli.Command{
		Name:      "build",
		Usage:     "nix build a flake's NixOS toplevel, then assemble its ISO",
		UsageText: "gonixiso build --flake .#name [-o nixos.iso] [options]",
		Description: "Runs `nix build` for config.system.build.toplevel only (\".#name\" means\n" +
			"\".#nixosConfigurations.name.config.system.build.toplevel\"; a reference with a longer\n" +
			"attribute path is built as given), streams its progress, then assembles the ISO as\n" +
			"`gonixiso assemble` does. Works with Nix 2.8 and newer.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "flake", Aliases: []string{"f"}, Usage: "flake reference: .#name, path:/dir#name, github:owner/repo#name, ... (required)"},
			&cli.StringSliceFlag{Name: "nix-option", Usage: "extra argument for nix build (repeatable), e.g. --nix-option=--impure"},
		}, imageFlags()...),
		OnUsageError: usageError,
		Action: func(c *cli.Context) error {
			if c.String("flake") == "" {
				return &exitError{exitFailure, errors.New("build needs --flake (see gonixiso build --help)")}
			}
			ref, err := toplevelRef(c.String("flake"))
			if err != nil {
				return &exitError{exitFailure, err}
			}
			top, cleanup, err := nixBuild(c, ref)
			if err != nil {
				return err
			}
			defer cleanup()
			return runAssemble(c, top)
		},
	}
}

// toplevelRef expands "flake#name" to the toplevel of nixosConfigurations.name; a fragment with
// a dot is an attribute path already and stays as it is.
func toplevelRef(ref string) (string, error) {
	flake, frag, ok := strings.Cut(ref, "#")
	if !ok || frag == "" {
		return "", fmt.Errorf("--flake %q: want FLAKE#NAME, e.g. .#installer", ref)
	}
	if flake == "" {
		flake = "."
	}
	if !strings.Contains(frag, ".") {
		frag = "nixosConfigurations." + frag + ".config.system.build.toplevel"
	}
	return flake + "#" + frag, nil
}

// nixBuild runs `nix build` for ref with its progress on our standard error and returns the
// built store path. The result link, in a temporary folder, keeps it from the garbage collector
// until cleanup.
func nixBuild(c *cli.Context, ref string) (string, func(), error) {
	nix, err := exec.LookPath("nix")
	if err != nil {
		return "", nil, errors.New("nix is not installed (gonixiso build runs `nix build`; gonixiso assemble takes a built toplevel)")
	}
	dir, err := os.MkdirTemp("", "gonixiso-build-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	link := filepath.Join(dir, "result")
	// --json prints the outputs on Nix 2.8 (no --print-out-paths there) as on newer Nix; the
	// result link is the garbage collector root.
	args := []string{"--extra-experimental-features", "nix-command flakes", "build", "--json", "--out-link", link}
	if !globalBool(c, "quiet") {
		args = append(args, "--print-build-logs")
	}
	args = append(args, c.StringSlice("nix-option")...)
	args = append(args, ref)
	cmd := exec.CommandContext(c.Context, nix, args...)
	cmd.Stderr = c.App.ErrWriter
	if globalBool(c, "quiet") {
		cmd.Stderr = nil
	}
	if globalBool(c, "verbose") {
		fmt.Fprintf(c.App.ErrWriter, "gonixiso: nix %s\n", strings.Join(args, " "))
	}
	out, err := cmd.Output()
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("nix build %s: %w", ref, err)
	}
	var results []struct {
		Outputs map[string]string `json:"outputs"`
	}
	if err := json.Unmarshal(out, &results); err != nil || len(results) != 1 || results[0].Outputs["out"] == "" {
		cleanup()
		return "", nil, fmt.Errorf("nix build %s: unexpected output %q", ref, out)
	}
	return results[0].Outputs["out"], cleanup, nil
}

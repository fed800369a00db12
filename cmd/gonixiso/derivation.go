package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/gonixiso/gonixiso"
)

// The derivations of gonixiso's NixOS module (system.build.gonixisoImage) run gonixiso as their
// builder, with __structuredAttrs: everything they need is in the build's .attrs.json, and no
// shell, jq or stdenv is needed in the sandbox.
func derivationCommand() *cli.Command {
	return &cli.Command{
		Name:  "derivation",
		Usage: "be the builder of gonixiso's Nix derivations (in Nix's sandbox)",
		Description: "Run by Nix as the builder of a derivation with __structuredAttrs, not by hand. It reads\n" +
			"the build's .attrs.json ($NIX_ATTRS_JSON_FILE, else ./.attrs.json).",
		Subcommands: []*cli.Command{
			{
				Name:  "iso",
				Usage: "build the ISO of the attribute spec into $out/iso, as config.system.build.isoImage lays it out",
				Description: "Attributes: spec (the ISO spec), exportReferencesGraph.closure = [ spec ] (the closure, with\n" +
					"NAR hashes), outputs.out. Writes $out/iso/<image.fileName>, $out/nix-support/hydra-build-products\n" +
					"and $out/nix-support/system. Uses $NIX_BUILD_CORES workers.",
				Action: derivationISO,
			},
		},
	}
}

// buildAttrs are the attributes of a derivation, as Nix writes them in .attrs.json.
type buildAttrs struct {
	file    string
	Spec    string            `json:"spec"`
	Outputs map[string]string `json:"outputs"`
}

// readBuildAttrs reads the build's .attrs.json: where $NIX_ATTRS_JSON_FILE says, else in the
// build's folder (Nix 2.8 names the file by its path outside the sandbox, which the build sees as
// /build).
func readBuildAttrs() (*buildAttrs, error) {
	var data []byte
	var p string
	err := errors.New("no $NIX_ATTRS_JSON_FILE")
	for _, cand := range []string{os.Getenv("NIX_ATTRS_JSON_FILE"), filepath.Join(os.Getenv("NIX_BUILD_TOP"), ".attrs.json"), ".attrs.json"} {
		if cand == "" || cand == ".attrs.json" && os.Getenv("NIX_BUILD_TOP") == "" && p != "" {
			continue
		}
		if data, err = os.ReadFile(cand); err == nil {
			p = cand
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("this runs as the builder of a Nix derivation with __structuredAttrs: %w", err)
	}
	a := &buildAttrs{}
	if err := json.Unmarshal(data, a); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if a.file, err = filepath.Abs(p); err != nil {
		return nil, err
	}
	if a.Outputs["out"] == "" {
		return nil, fmt.Errorf("%s: no outputs.out", p)
	}
	return a, nil
}

func derivationISO(c *cli.Context) error {
	a, err := readBuildAttrs()
	if err != nil {
		return err
	}
	if a.Spec == "" {
		return errors.New("the derivation has no spec attribute")
	}
	s, err := readSpec(a.Spec)
	if err != nil {
		return err
	}
	cfg, err := gonixiso.ConfigFromSpec(s, "")
	if err != nil {
		return err
	}
	out := a.Outputs["out"]
	for _, d := range []string{"iso", "nix-support"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			return err
		}
	}
	cfg.Output = filepath.Join(out, "iso", s.Image.FileName)
	cfg.OutputInStore = true
	cfg.ClosureInfo = a.file
	// Nix's sandbox is the sandbox: it shows the build nothing but its inputs, and may not let
	// it make namespaces of its own.
	cfg.NoSandbox = true
	if n, err := strconv.Atoi(os.Getenv("NIX_BUILD_CORES")); err == nil && n > 0 {
		cfg.Jobs = min(n, gonixiso.MaxJobs)
	}
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		if cfg.Epoch, err = parseEpoch(epoch); err != nil {
			return err
		}
	}
	rep := newReporter(c)
	res, err := gonixiso.Assemble(c.Context, cfg)
	if err != nil {
		return err
	}
	rep.summary(res, nil)
	products := fmt.Sprintf("file iso %s\n", cfg.Output)
	if err := os.WriteFile(filepath.Join(out, "nix-support", "hydra-build-products"), []byte(products), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "nix-support", "system"), []byte(s.System), 0o644)
}

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
	"github.com/gonixiso/gonixiso/cache"
	"github.com/gonixiso/gonixiso/spec"
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
			{
				Name:  "plan",
				Usage: "write the store paths of the spec's image and their SquashFS settings to $out (JSON)",
				Description: "Attributes as for iso. The output, read at evaluation time (import from derivation), plans\n" +
					"one segment derivation per store path: {\"paths\": [...], \"settings\": {...}}.",
				Action: derivationPlan,
			},
			{
				Name:  "segment",
				Usage: "compress the store path storePath into $out/segment, the cache entry a build places",
				Description: "Attributes: storePath (with its context: the build's one input), settings (from the plan),\n" +
					"outputs.out.",
				Action: derivationSegment,
			},
		},
	}
}

// plan is a plan derivation's output: it hands the spec's settings (ConfigFromSpec) to every
// segment derivation, as plain values.
type plan struct {
	Paths    []string                 `json:"paths"`
	Settings gonixiso.SegmentSettings `json:"settings"`
}

// buildAttrs are the attributes of a derivation, as Nix writes them in .attrs.json.
type buildAttrs struct {
	file    string
	Spec    string            `json:"spec"`
	Outputs map[string]string `json:"outputs"`
	// Segments are segment derivations' outputs, for iso; StorePath and Settings a segment
	// derivation's.
	Segments  []string                  `json:"segments"`
	StorePath string                    `json:"storePath"`
	Settings  *gonixiso.SegmentSettings `json:"settings"`
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

// specConfig is the configuration of the spec of a derivation's attributes, for a build in the
// sandbox: the closure from .attrs.json, $NIX_BUILD_CORES workers, $SOURCE_DATE_EPOCH.
func specConfig(a *buildAttrs) (*spec.Spec, gonixiso.Config, error) {
	if a.Spec == "" {
		return nil, gonixiso.Config{}, errors.New("the derivation has no spec attribute")
	}
	s, err := readSpec(a.Spec)
	if err != nil {
		return nil, gonixiso.Config{}, err
	}
	cfg, err := gonixiso.ConfigFromSpec(s, "")
	if err != nil {
		return nil, gonixiso.Config{}, err
	}
	cfg.ClosureInfo = a.file
	if err := sandboxConfig(&cfg); err != nil {
		return nil, gonixiso.Config{}, err
	}
	return s, cfg, nil
}

// sandboxConfig sets what a build in Nix's sandbox takes from its environment.
func sandboxConfig(cfg *gonixiso.Config) error {
	// Nix's sandbox is the sandbox: it shows the build nothing but its inputs, and may not let
	// it make namespaces of its own.
	cfg.NoSandbox = true
	if n, err := strconv.Atoi(os.Getenv("NIX_BUILD_CORES")); err == nil && n > 0 {
		cfg.Jobs = min(n, gonixiso.MaxJobs)
	}
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		var err error
		if cfg.Epoch, err = parseEpoch(epoch); err != nil {
			return err
		}
	}
	return nil
}

func derivationISO(c *cli.Context) error {
	a, err := readBuildAttrs()
	if err != nil {
		return err
	}
	s, cfg, err := specConfig(a)
	if err != nil {
		return err
	}
	if len(a.Segments) > 0 {
		// The segment derivations' entries, in a cache of links to them: every store path
		// is placed, none compressed.
		dir, err := os.MkdirTemp("", "segments-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if cfg.Cache, err = cache.Open(dir, func(f string, args ...any) { fmt.Fprintf(c.App.ErrWriter, f+"\n", args...) }); err != nil {
			return err
		}
		for _, seg := range a.Segments {
			if _, err := cfg.Cache.Import(filepath.Join(seg, "segment")); err != nil {
				return err
			}
		}
	}
	out := a.Outputs["out"]
	for _, d := range []string{"iso", "nix-support"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			return err
		}
	}
	cfg.Output = filepath.Join(out, "iso", s.Image.FileName)
	cfg.OutputInStore = true
	rep := newReporter(c)
	res, err := gonixiso.Assemble(c.Context, cfg)
	if err != nil {
		return err
	}
	rep.summary(res, nil)
	if len(a.Segments) > 0 && res.CachedPaths != res.StorePaths {
		return fmt.Errorf("%d of %d store paths were compressed here, not placed from their segments: the segment derivations do not match the image's settings", res.StorePaths-res.CachedPaths, res.StorePaths)
	}
	products := fmt.Sprintf("file iso %s\n", cfg.Output)
	if err := os.WriteFile(filepath.Join(out, "nix-support", "hydra-build-products"), []byte(products), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "nix-support", "system"), []byte(s.System), 0o644)
}

func derivationPlan(c *cli.Context) error {
	a, err := readBuildAttrs()
	if err != nil {
		return err
	}
	_, cfg, err := specConfig(a)
	if err != nil {
		return err
	}
	paths, err := gonixiso.StorePaths(c.Context, cfg)
	if err != nil {
		return err
	}
	p := plan{Paths: paths, Settings: cfg.SegmentSettings()}
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(a.Outputs["out"], append(b, '\n'), 0o444)
}

func derivationSegment(c *cli.Context) error {
	a, err := readBuildAttrs()
	if err != nil {
		return err
	}
	if a.StorePath == "" || a.Settings == nil {
		return errors.New("a segment derivation needs the attributes storePath and settings")
	}
	cfg := gonixiso.Config{Compression: a.Settings.Compression, BlockSize: a.Settings.BlockSize}
	if err := sandboxConfig(&cfg); err != nil {
		return err
	}
	out := a.Outputs["out"]
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	return gonixiso.PackSegment(c.Context, cfg, a.StorePath, filepath.Join(out, "segment"))
}

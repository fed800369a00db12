package gonixiso

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gonixiso/gonixiso/cache"
	"github.com/gonixiso/gonixiso/nix"
	"github.com/gonixiso/gonixiso/squash"
)

// NixCache makes Nix the segment cache (Config.NixCache): each store path's segment is a
// derivation (nix/segment.nix, `gonixiso derivation segment`), keyed by its store path and the
// SquashFS settings. Nix substitutes it from a binary cache, or builds it (on remote builders, in
// parallel, as it builds anything), and the build places it; the segments then go to the binary
// cache for the next machine. These are the derivations of the module's
// system.build.gonixisoImageIncremental when both run the same gonixiso store path.
type NixCache struct {
	// Gonixiso is the store path of the gonixiso package (with bin/gonixiso) that the
	// derivations run: a change of it is a change of every segment derivation.
	Gonixiso string
	// URL is a binary cache that segments are substituted from and copied to (a store URL
	// `nix copy` takes: file://, s3://, ssh://, https://); "" for the local store alone. Nix's
	// own settings apply (trusted keys, NIX_CONFIG).
	URL string
}

// SegmentSettings are what changes a store path's segment besides the path: the compression and
// the block size. A segment derivation is given them as plain values.
type SegmentSettings struct {
	Compression squash.Compression `json:"compression"`
	BlockSize   int                `json:"blockSize"`
}

// SegmentSettings are cfg's settings for its segments, with the defaults spelled out, so that
// equal settings are equal values (and equal segment derivations).
func (cfg Config) SegmentSettings() SegmentSettings {
	s := SegmentSettings{Compression: cfg.Compression, BlockSize: cfg.BlockSize}
	if s.Compression.Algorithm == "" {
		s.Compression.Algorithm = squash.Zstd
	}
	if s.BlockSize == 0 {
		s.BlockSize = squash.DefaultBlockSize
	}
	return s
}

// nixSegments has Nix build or substitute the segment of every store path of the closure, and
// makes a cache of links to them the build's cache: every path is then placed, none compressed
// here.
func (b *build) nixSegments() error {
	nc := b.cfg.NixCache
	if b.clo == nil {
		return errors.New("Nix as the segment cache needs the closure before packing (a Nix database or CLI), not a scan")
	}
	dir, err := os.MkdirTemp("", "gonixiso-nix-")
	if err != nil {
		return err
	}
	b.cleanup = append(b.cleanup, func() { os.RemoveAll(dir) })
	if _, err := nix.WriteTo(dir); err != nil {
		return err
	}
	paths := make([]string, len(b.clo.Paths))
	for i, p := range b.clo.Paths {
		paths[i] = p.Path
	}
	for name, v := range map[string]any{"paths.json": paths, "settings.json": b.cfg.SegmentSettings()} {
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o444); err != nil {
			return err
		}
	}
	expr := fmt.Sprintf(`let
  segment = import %s/segment.nix {
    gonixiso = builtins.storePath %q;
    system = builtins.currentSystem;
    settings = builtins.fromJSON (builtins.readFile %s/settings.json);
  };
in map segment (builtins.fromJSON (builtins.readFile %s/paths.json))`, dir, nc.Gonixiso, dir, dir)
	args := []string{"--no-out-link", "-E", expr}
	if nc.URL != "" {
		args = append(args, "--option", "extra-substituters", nc.URL)
	}
	b.logf("nix-build of %d segment derivations (gonixiso %s)", len(paths), nc.Gonixiso)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(b.ctx, "nix-build", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("nix-build of the segments: %v\n%s", err, tail(stderr.String(), 40))
	}
	c, err := cache.Open(filepath.Join(dir, "cache"), b.logf)
	if err != nil {
		return err
	}
	b.segments = strings.Fields(string(out))
	b.res.SegmentsBuilt, b.res.SegmentsFetched = nixPlanned(stderr.String(), "gonixiso-segment-")
	b.logf("segments: %d built by Nix, %d fetched, the others in the store already", b.res.SegmentsBuilt, b.res.SegmentsFetched)
	for _, seg := range b.segments {
		if _, err := c.Import(filepath.Join(seg, "segment")); err != nil {
			return err
		}
	}
	b.cfg.Cache, b.noStore = c, true
	return nil
}

// pushSegments copies the segments to the binary cache, once the image is made.
func (b *build) pushSegments() error {
	nc := b.cfg.NixCache
	if nc == nil || nc.URL == "" || len(b.segments) == 0 {
		return nil
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(b.ctx, "nix", append([]string{"copy", "--to", nc.URL}, b.segments...)...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nix copy of the segments to %s: %v\n%s", nc.URL, err, tail(stderr.String(), 40))
	}
	b.logf("copied %d segments to %s", len(b.segments), nc.URL)
	return nil
}

// nixPlanned counts the store paths named prefix+... that Nix's output says it will build
// (derivations) and fetch.
func nixPlanned(log, prefix string) (built, fetched int) {
	var n *int
	for _, l := range strings.Split(log, "\n") {
		switch {
		case strings.Contains(l, "will be built:"):
			n = &built
		case strings.Contains(l, "will be fetched"):
			n = &fetched
		case strings.HasPrefix(l, "  /") && n != nil:
			if base := filepath.Base(strings.TrimSpace(l)); len(base) > 33 && strings.HasPrefix(base[33:], prefix) {
				*n++
			}
		default:
			n = nil
		}
	}
	return built, fetched
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

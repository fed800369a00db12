package closure

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"
)

// maxStderr bounds how much of nix's error output an error quotes.
const maxStderr = 4 << 10

// fromCLI asks `nix path-info --json --recursive` for the closure of roots.
func fromCLI(ctx context.Context, roots []string, store Store) ([]Path, error) {
	nix, err := exec.LookPath("nix")
	if err != nil {
		return nil, fmt.Errorf("nix path-info: %w", err)
	}
	args := []string{"--extra-experimental-features", "nix-command", "path-info", "--json", "--recursive"}
	if store.Root != "" {
		args = append(args, "--store", store.Root)
	}
	cmd := exec.CommandContext(ctx, nix, append(args, roots...)...)
	storeDir := store.Dir
	if storeDir != DefaultStoreDir {
		cmd.Env = append(os.Environ(), "NIX_STORE_DIR="+storeDir)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := stderr.Bytes()
		if len(msg) > maxStderr {
			msg = msg[len(msg)-maxStderr:]
		}
		return nil, fmt.Errorf("nix path-info %s: %w: %s", strings.Join(roots, " "), err, bytes.TrimSpace(msg))
	}
	paths, err := parsePathInfo(out, storeDir)
	if err != nil {
		return nil, fmt.Errorf("nix path-info: %w", err)
	}
	return paths, nil
}

// pathInfo is one store path in `nix path-info --json`. Nix 2.8 to 2.18 give a list of these
// with "path" set; later Nix gives an object keyed by path, null for an invalid path, and its
// newer JSON versions give narHash as an object and may write paths without the store
// directory (with "storeDir" beside them).
type pathInfo struct {
	Path       string          `json:"path"`
	Valid      *bool           `json:"valid"`
	NarHash    json.RawMessage `json:"narHash"`
	NarSize    *uint64         `json:"narSize"`
	References []string        `json:"references"`
	Deriver    *string         `json:"deriver"`
	StoreDir   string          `json:"storeDir"`
}

// structuredHash is the narHash of newer Nix's JSON: {"algorithm", "format", "hash"}.
type structuredHash struct {
	Algorithm string `json:"algorithm"`
	Format    string `json:"format"`
	Hash      string `json:"hash"`
}

// parsePathInfo parses the output of `nix path-info --json` in either form.
func parsePathInfo(data []byte, storeDir string) ([]Path, error) {
	data = bytes.TrimSpace(data)
	var infos []pathInfo
	switch {
	case len(data) > 0 && data[0] == '[':
		if err := json.Unmarshal(data, &infos); err != nil {
			return nil, fmt.Errorf("path-info JSON: %w", err)
		}
	case len(data) > 0 && data[0] == '{':
		var byPath map[string]*pathInfo
		if err := json.Unmarshal(data, &byPath); err != nil {
			return nil, fmt.Errorf("path-info JSON: %w", err)
		}
		keys := make([]string, 0, len(byPath))
		for k := range byPath {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			info := byPath[k]
			if info == nil {
				invalid := false
				info = &pathInfo{Valid: &invalid}
			}
			info.Path = k
			infos = append(infos, *info)
		}
	default:
		return nil, fmt.Errorf("path-info JSON: want a list or an object")
	}

	paths := make([]Path, 0, len(infos))
	for _, info := range infos {
		dir := storeDir
		if info.StoreDir != "" {
			dir = info.StoreDir
		}
		p := Path{Path: absStorePath(info.Path, dir)}
		if p.Path == "" {
			return nil, fmt.Errorf("path-info JSON: an entry without a path")
		}
		if info.Valid != nil && !*info.Valid {
			return nil, fmt.Errorf("%s: not a valid path", p.Path)
		}
		var err error
		if p.NarHash, err = parseJSONHash(info.NarHash); err != nil {
			return nil, fmt.Errorf("%s: narHash: %w", p.Path, err)
		}
		if info.NarSize == nil {
			return nil, fmt.Errorf("%s: no narSize", p.Path)
		}
		p.NarSize = *info.NarSize
		for _, r := range info.References {
			p.References = append(p.References, absStorePath(r, dir))
		}
		if info.Deriver != nil && *info.Deriver != "" {
			p.Deriver = absStorePath(*info.Deriver, dir)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// absStorePath returns p with the store directory in front when it is only a base name.
func absStorePath(p, storeDir string) string {
	if p == "" || strings.HasPrefix(p, "/") {
		return p
	}
	return path.Join(storeDir, p)
}

// parseJSONHash parses a narHash: a string in any form ParseHash takes, or a structured hash.
func parseJSONHash(raw json.RawMessage) (Hash, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return Hash{}, fmt.Errorf("missing")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return Hash{}, err
		}
		return ParseHash(s)
	}
	var sh structuredHash
	if err := json.Unmarshal(raw, &sh); err != nil {
		return Hash{}, err
	}
	if sh.Algorithm != sha256Prefix {
		return Hash{}, fmt.Errorf("algorithm %q, want %s", sh.Algorithm, sha256Prefix)
	}
	var b []byte
	var err error
	switch sh.Format {
	case "base64":
		b, err = base64.StdEncoding.Strict().DecodeString(sh.Hash)
	case "base16":
		b, err = hex.DecodeString(sh.Hash)
	case "nix32", "base32":
		b, err = DecodeNix32(sh.Hash)
	case "sri":
		var h Hash
		h, err = ParseHash(sh.Hash)
		b = h[:]
	default:
		return Hash{}, fmt.Errorf("hash format %q", sh.Format)
	}
	if err != nil {
		return Hash{}, err
	}
	if len(b) != sha256.Size {
		return Hash{}, fmt.Errorf("digest of %d bytes, want %d", len(b), sha256.Size)
	}
	return Hash(b), nil
}

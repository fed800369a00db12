package closure

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
)

// maxInfoFile bounds a closure information file: a closure of 10,000 store paths takes a few
// megabytes.
const maxInfoFile = 256 << 20

// fromInfo reads the closure of roots from a file of path information, as Nix writes it for a
// derivation with __structuredAttrs and exportReferencesGraph (its .attrs.json holds the list
// under the name the derivation gave, "closure" by nixpkgs' and gonixiso's convention) or as
// `nix path-info --json` prints it: inside a build there is no Nix database, and this is what
// nixpkgs' closureInfo reads too. The file may hold more paths than the closure of roots.
func fromInfo(roots []string, file, storeDir string) ([]Path, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxInfoFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(data) > maxInfoFile {
		return nil, fmt.Errorf("%s: more than %d bytes", file, maxInfoFile)
	}
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '{' {
		var attrs map[string]json.RawMessage
		if err := json.Unmarshal(data, &attrs); err == nil && attrs["closure"] != nil {
			data = attrs["closure"]
		}
	}
	all, err := parsePathInfo(data, storeDir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	byPath := make(map[string]*Path, len(all))
	for i := range all {
		byPath[all[i].Path] = &all[i]
	}
	var out []Path
	seen := map[string]bool{}
	queue := slices.Clone(roots)
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		info, ok := byPath[p]
		if !ok {
			return nil, fmt.Errorf("%s: %s is not in it", file, p)
		}
		out = append(out, *info)
		queue = append(queue, info.References...)
	}
	return out, nil
}

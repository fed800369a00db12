// Package nix holds gonixiso's Nix files, built into the binary so that `gonixiso build` can
// evaluate them wherever it runs: the NixOS module (module.nix), the spec writer (spec.nix),
// and from-configuration.nix, which gives the spec of any NixOS configuration or says what it
// lacks. Their documentation is in the files and in docs/spec.md.
package nix

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed *.nix
var files embed.FS

// Files are the Nix files, by name.
func Files() fs.FS { return files }

// WriteTo writes the Nix files into the folder dir, read-only, and returns the path of
// from-configuration.nix there.
func WriteTo(dir string) (string, error) {
	ents, err := fs.ReadDir(files, ".")
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		b, err := fs.ReadFile(files, e.Name())
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o444); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "from-configuration.nix"), nil
}

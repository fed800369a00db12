// Package nixcheck holds the checks of gonixiso's Nix side that need no nixpkgs: every .nix file
// of the repository parses, nix/module.nix reads only option paths that nixpkgs' iso-image.nix
// declares or reads (a drift check against testdata/nixpkgs, since nixpkgs cannot be evaluated
// here), the module gives the test system's own specs when evaluated against mocks of nixpkgs,
// both specs of the test system build and name their store paths as dependencies, and
// docs/spec.md describes every field and every isoImage.contents target the module leaves out.
//
// The package has tests only.
package nixcheck

package testsystem

import "testing"

// BaselinePartsOf is BaselineParts for another toplevel (the custom configuration's, say): the
// folder in which scripts/nixpkgs-iso, run with args on top, left the parts of its ISO, among
// them nix-store.squashfs. It is built once per toplevel, script version and arguments.
func BaselinePartsOf(t testing.TB, top string, args ...string) string {
	t.Helper()
	_, parts := baselineOf(t, top, args)
	return parts
}

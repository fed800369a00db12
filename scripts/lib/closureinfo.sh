# shellcheck shell=bash
# closureInfo's registration, as nixpkgs' pkgs/build-support/closure-info.nix writes it, made with
# nix-store queries: for each path of the closure, sorted, the path, sha256:<nix32>, the NAR
# size, an empty deriver line, the number of references and the sorted references.

# registration TOPLEVEL OUT: closureInfo's registration of TOPLEVEL's closure (deriver empty).
registration() {
	local p
	nix-store -qR "$1" | LC_ALL=C sort | while IFS= read -r p; do
		printf '%s\n' "$p"
		nix-store -q --hash "$p"
		nix-store -q --size "$p"
		echo
		nix-store -q --references "$p" | LC_ALL=C sort | { mapfile -t refs; echo "${#refs[@]}"; [ ${#refs[@]} -eq 0 ] || printf '%s\n' "${refs[@]}"; }
	done >"$2"
}

# The ISO as a derivation (config.system.build.gonixisoImage): gonixiso runs as the builder, in
# Nix's sandbox, on the ISO spec, and lays its output out as nixpkgs' config.system.build.isoImage
# does: $out/iso/<image.fileName>, $out/nix-support/hydra-build-products and
# $out/nix-support/system. So it builds on remote builders and Hydra, and `nix build` keeps the ISO
# as a GC root. A plain function of plain values (no nixpkgs lib): the NixOS module and the test
# flake call it alike.
#
# There is no Nix database in the sandbox: the closure and its NAR hashes come from
# exportReferencesGraph with __structuredAttrs (as nixpkgs' closureInfo gets them), which gonixiso
# reads from .attrs.json (`gonixiso derivation iso`). No shell, jq or stdenv is needed: gonixiso is
# the builder, and its own closure is all the build needs besides the spec's.
{ gonixiso # a store path with bin/gonixiso
, spec # the ISO spec (config.system.build.gonixiso)
, system
, name ? "gonixiso-image"
}:

derivation {
  inherit name system spec;
  builder = "${gonixiso}/bin/gonixiso";
  args = [ "derivation" "iso" ];
  __structuredAttrs = true;
  exportReferencesGraph.closure = [ spec ];
  # The ISO holds the bytes of store paths, not references to them: a Nix that knows this
  # attribute (2.12 and later) keeps the closure out of the output's references, as nixpkgs'
  # isoImage does.
  unsafeDiscardReferences.out = true;
}

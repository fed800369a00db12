# The ISO from one derivation per store path (config.system.build.gonixisoImageIncremental):
# each store path of the image is compressed by a derivation of its own into the SquashFS segment
# a build places (`gonixiso derivation segment`), and the image's derivation places them all
# (`gonixiso derivation iso` with `segments`). Nix then does the rest: a segment is rebuilt only
# when its store path changes, remote builders compress segments in parallel, and binary caches
# serve them to a fresh machine. The ISO's bytes are nix/image.nix's.
#
# Planning a derivation per store path needs the closure at evaluation time: import from
# derivation (IFD) of a small plan derivation, which lists the image's store paths and the
# SquashFS settings. Where IFD is not allowed (Hydra's restrict-eval, allow-import-from-derivation
# = false), use nix/image.nix, which needs none.
#
# A segment depends on its store path alone (nix/segment.nix): the plan's paths are read without
# the plan's context.
{ gonixiso # a store path with bin/gonixiso
, spec # the ISO spec (config.system.build.gonixiso)
, system
, name ? "gonixiso-image"
}:

let
  builder = "${gonixiso}/bin/gonixiso";

  plan = derivation {
    name = "${name}-plan";
    inherit system spec builder;
    args = [ "derivation" "plan" ];
    __structuredAttrs = true;
    exportReferencesGraph.closure = [ spec ];
  };
  planned = builtins.fromJSON (builtins.unsafeDiscardStringContext (builtins.readFile "${plan}"));

  segment = import ./segment.nix { inherit gonixiso system; inherit (planned) settings; };
in
derivation
{
  inherit name system spec builder;
  args = [ "derivation" "iso" ];
  __structuredAttrs = true;
  exportReferencesGraph.closure = [ spec ];
  segments = map segment planned.paths;
  unsafeDiscardReferences.out = true;
} // { inherit plan; }

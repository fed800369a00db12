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
# A segment must depend on its store path alone, so that it survives changes elsewhere: the plan's
# paths are read without the plan's context, and each is given back its own store path's context
# with builtins.appendContext (allowed in pure evaluation, unlike builtins.storePath).
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

  # A store path as a string with its own context: a dependency on that path, and nothing else.
  storePathOf = p: builtins.appendContext p { ${p} = { path = true; }; };

  # The name of a store path without its hash, for the segment's derivation.
  nameOf = p: builtins.substring 33 (-1) (baseNameOf p);

  segment = p: derivation {
    name = "gonixiso-segment-${nameOf p}";
    inherit system builder;
    args = [ "derivation" "segment" ];
    __structuredAttrs = true;
    storePath = storePathOf p;
    inherit (planned) settings;
    # Like the ISO, a segment holds the bytes of its store path (its file names name it), not
    # a reference to it: a Nix that knows this attribute (2.12 and later) keeps the path out of
    # the segment's references, so that a binary cache serves the segment alone.
    unsafeDiscardReferences.out = true;
  };
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

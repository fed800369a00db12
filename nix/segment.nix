# A store path's SquashFS segment as a derivation: `gonixiso derivation segment` compresses the
# path alone into the cache entry that a build places instead of compressing it (docs/spec.md,
# "Segments"). nix/image-incremental.nix makes one per store path of an image, and
# `gonixiso build --cache nix` (or --cache <binary cache URL>) builds or substitutes the same.
#
# A segment depends on its store path alone, so that it survives changes elsewhere: storePath is
# read without whatever context it came with, and given its own store path's back with
# builtins.appendContext (allowed in pure evaluation, unlike builtins.storePath).
{ gonixiso # a store path with bin/gonixiso
, system
, settings # the SquashFS settings that change a segment's bytes (the plan's)
}:
storePath:
let
  p = builtins.unsafeDiscardStringContext storePath;
in
derivation {
  # The store path's name without its hash.
  name = "gonixiso-segment-${builtins.substring 33 (-1) (baseNameOf p)}";
  inherit system settings;
  builder = "${gonixiso}/bin/gonixiso";
  args = [ "derivation" "segment" ];
  __structuredAttrs = true;
  storePath = builtins.appendContext p { ${p} = { path = true; }; };
  # Like the ISO, a segment holds the bytes of its store path (its file names name it), not a
  # reference to it: a Nix that knows this attribute (2.12 and later) keeps the path out of the
  # segment's references, so that a binary cache serves the segment alone.
  unsafeDiscardReferences.out = true;
}

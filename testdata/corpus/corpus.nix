# The benchmark corpus: a NixOS-shaped system whose closure is made of real Debian packages, one
# store path per package, with real Nix references along their Depends.
#
# scripts/mkcorpus downloads the packages named in small.list or large.list, unpacks each into
# $GONIXISO_CACHE/host/corpus (which sandboxed builds see as /gonixiso-host/corpus), resolves
# their Depends among the listed packages and writes `packages`, an attribute set generated
# outside git:
#
#   { "<package>" = { version = "<Debian version>"; src = "<its unpacked tree in the sandbox>";
#                     sha256 = "<sha256 of the .deb>"; depends = [ "<package>" ... ];
#                     root = <true when no listed package depends on it>; }; ... }
#
# Each package becomes a derivation that copies its unpacked tree into $out and lists the store
# paths of its depends in $out/nix-support/depends, the text that makes them Nix references. The
# .deb's sha256 is part of the derivation, so a store path changes exactly when its .deb or one of
# its depends does. The roots go into the toplevel's extra-dependencies, and everything else is
# reached through references, as in a real closure.
#
# The toplevel is the test system's (testdata/system/lib.nix): kernel, initrd, init, boot.json,
# etc, sw, syslinux and grub2_efi, without a specialisation. Its stage 2 checks the files of the
# test system's own store paths but not etc's (so that etc's changes reach the toplevel only) nor
# the packages' (nobody boots the corpus for them).
#
# variant = 2 is the incremental-rebuild benchmark's changed system: the same closure except three
# store paths, a new toplevel, a new etc (another host name) and `changedPackage` with one file
# added. changedPackage is a root, so no other package depends on it: coreutils (19 MB, 265
# files) in the small corpus, git (46 MB, 704 files) in the large one.
{ packages
, size
, variant ? 1
, changedPackage ? { small = "coreutils"; large = "git"; }.${size}
}:
let
  system = "x86_64-linux";
  lib = import ../system/lib.nix { inherit system; };

  # A Debian version as a store path name allows it: no epoch, `~` as `_`.
  storeVersion = v:
    let m = builtins.match "([0-9]+:)?(.*)" v;
    in builtins.replaceStrings [ "~" ":" ] [ "_" "_" ] (builtins.elemAt m 1);

  variantFile = "share/gonixiso-corpus/variant";

  mkPackage = name: p: lib.runBusybox "${name}-${storeVersion p.version}"
    ({
      inherit (p) src;
      debSha256 = p.sha256;
      depends = map (d: pkgs.${d}) p.depends;
    } // (if variant != 1 && name == changedPackage then {
      variantNote = "gonixiso corpus variant ${toString variant}";
    } else { })) ''
    [ -d "$src" ] || { echo "$src is missing: run scripts/mkcorpus ${size}" >&2; exit 1; }
    mkdir -p $out
    cp -r "$src/." $out/
    if [ -n "$depends" ]; then
      mkdir -p $out/nix-support
      for d in $depends; do echo "$d"; done > $out/nix-support/depends
    fi
    if [ -n "''${variantNote:-}" ]; then
      mkdir -p $out/$(dirname ${variantFile})
      echo "$variantNote" > $out/${variantFile}
    fi
  '';

  pkgs = builtins.mapAttrs mkPackage packages;
  roots = builtins.filter (n: packages.${n}.root) (builtins.attrNames packages);

  hostName = "gonixiso-corpus-${size}" + (if variant == 1 then "" else "-v${toString variant}");
  nixos = lib.nixosSystem {
    inherit hostName;
    volumeID = "gonixiso-corpus-x86_64";
    extraDependencies = map (n: pkgs.${n}) roots;
    checkEtc = false;
  };
in
assert builtins.isInt variant && variant >= 1;
assert variant == 1 || (packages ? ${changedPackage} && packages.${changedPackage}.root)
  || throw "corpus: the changed package ${changedPackage} must be listed and no listed package may depend on it";
# corpusPackages: what mkcorpus asks Nix (by their out paths) to learn which packages still need
# their .deb unpacked.
nixos.config.system.build.toplevel // { corpusPackages = pkgs; }

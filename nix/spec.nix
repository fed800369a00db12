# The ISO spec writer: format version 1, described field by field in docs/spec.md.
#
# A plain function that needs no nixpkgs: the NixOS module (nix/module.nix) calls it with
# pkgs.writeText and the values it reads from a configuration, the test system
# (testdata/system/lib.nix) with a busybox writeText. Everything that knows nixpkgs (which option
# holds what, renamed options, the isoImage.contents entries iso-image.nix adds itself) stays in
# the module; this file knows only the format.
#
#   mkSpec = import ./nix/spec.nix { inherit (pkgs) writeText; };
#   spec = mkSpec { system = ...; toplevel = ...; isoImage = { ... }; image = { ... };
#                   boot = { ... }; specialisation = { ... }; packages = { ... }; };
#
# It checks every field's shape (a missing or unknown field is an error, so the writer, the module
# and docs/spec.md cannot drift apart silently), turns derivations and paths into store path
# strings, and writes the whole with builtins.toJSON. toJSON keeps the string context of every
# store path it writes, so each one becomes a dependency of the spec file: one `nix build` of the
# spec realises everything the ISO needs. A store path without string context (a plain string,
# or one passed through unsafeDiscardStringContext) would not be realised, so it is refused.
{ writeText }:

{ system
, toplevel
, isoImage
, image
, boot
, specialisation ? { }
, packages
, name ? "gonixiso-spec.json"
}:

let
  version = 1;

  inherit (builtins) isAttrs isBool isInt isList isString isPath typeOf attrNames filter
    concatStringsSep stringLength substring storeDir hasContext mapAttrs;

  fail = path: what: v:
    throw "gonixiso spec: ${path} must be ${what}, not ${describe v}";
  describe = v:
    if isString v then "the string \"${v}\""
    else if v == null then "null"
    else if isBool v then (if v then "true" else "false")
    else if isInt v then "the integer ${toString v}"
    else "a value of type ${typeOf v}";

  hasPrefix = p: s: substring 0 (stringLength p) s == p;

  # Checkers: path -> value -> the value as it goes into the JSON (or a throw naming the field).
  str = path: v: if isString v then v else fail path "a string" v;
  bool = path: v: if isBool v then v else fail path "a boolean" v;
  int = path: v: if isInt v then v else fail path "an integer" v;
  nullOr = check: path: v: if v == null then null else check path v;
  listOf = check: path: v:
    if isList v then builtins.genList (i: check "${path}[${toString i}]" (builtins.elemAt v i)) (builtins.length v)
    else fail path "a list" v;
  attrsOf = check: path: v:
    if isAttrs v && !(v ? outPath) then mapAttrs (n: x: check "${path}.${n}" x) v
    else fail path "an attribute set" v;

  # A store path, or a path below one ("${pkg}/memtest.bin"), with its string context. A
  # derivation gives its output path, a Nix path value is copied to the store first.
  storePath = path: v:
    let
      s =
        if isPath v || (isAttrs v && v ? outPath) then "${v}"
        else v;
    in
    if !(isString s) then fail path "a store path" v
    else if !(hasPrefix "${storeDir}/" s) then fail path "a path in ${storeDir}" v
    else if !(hasContext s) then
      throw "gonixiso spec: ${path} is the store path ${s} without string context; pass the derivation, or a string made by interpolating it, so that building the spec builds it"
    else s;

  # An attribute set with exactly these fields.
  record = fields: path: v:
    let
      unknown = filter (n: !(fields ? ${n})) (attrNames v);
      missing = filter (n: !(v ? ${n})) (attrNames fields);
      show = ns: concatStringsSep ", " ns;
    in
    if !(isAttrs v) || v ? outPath then fail path "an attribute set" v
    else if unknown != [ ] then throw "gonixiso spec: ${path} has fields the format does not know: ${show unknown} (see docs/spec.md)"
    else if missing != [ ] then throw "gonixiso spec: ${path} lacks ${show missing} (see docs/spec.md)"
    else mapAttrs (n: check: check "${path}.${n}" v.${n}) fields;

  volumeID = path: v:
    let s = str path v; in
    if s == "" then throw "gonixiso spec: ${path} is empty"
    else if stringLength s > 32 then throw "gonixiso spec: ${path} \"${s}\" is ${toString (stringLength s)} characters; an ISO 9660 volume id holds at most 32"
    else s;

  target = path: v:
    let s = str path v; in
    if s == "" then throw "gonixiso spec: ${path} is empty" else s;

  # The schema. docs/spec.md describes each field; keep the two in step.
  isoImageFields = {
    volumeID = volumeID;
    edition = str;
    squashfsCompression = nullOr str;
    makeEfiBootable = bool;
    makeBiosBootable = bool;
    makeUsbBootable = bool;
    prependToMenuLabel = str;
    appendToMenuLabel = str;
    configurationName = nullOr str;
    showConfiguration = bool;
    forceTextMode = bool;
    splashImage = nullOr storePath;
    efiSplashImage = nullOr storePath;
    grubTheme = nullOr storePath;
    syslinuxTheme = str;
    contents = listOf (record { source = storePath; target = target; });
    storeContents = listOf storePath;
    includeSystemBuildDependencies = bool;
    compressImage = bool;
  };

  schema = {
    system = str;
    toplevel = storePath;
    isoImage = record isoImageFields;
    image = record { fileName = str; baseName = str; };
    boot = record {
      loader = record {
        timeout = nullOr int;
        grub = record { memtest86 = record { enable = bool; params = listOf str; }; };
      };
      initrd = record { systemd = record { enable = bool; }; };
    };
    specialisation = attrsOf (record {
      configuration = record {
        isoImage = record {
          prependToMenuLabel = str;
          appendToMenuLabel = str;
          configurationName = nullOr str;
          showConfiguration = bool;
        };
        system = record { build = record { toplevel = storePath; }; };
      };
    });
    packages = record {
      grub2_efi = nullOr storePath;
      syslinux = nullOr storePath;
      memtest86plus = nullOr storePath;
      memtest86plusFile = nullOr storePath;
    };
  };

  checked = mapAttrs (n: check: check n args.${n}) schema;
  args = { inherit system toplevel isoImage image boot specialisation packages; };

  spec = { inherit version; } // checked;

  # Rules between fields, beyond their shapes.
  consistent =
    let
      p = spec.packages;
      i = spec.isoImage;
      memtest = spec.boot.loader.grub.memtest86.enable;
    in
    if !(i.makeBiosBootable || i.makeEfiBootable) then
      throw "gonixiso spec: neither isoImage.makeBiosBootable nor isoImage.makeEfiBootable is set; the ISO could not boot"
    else if i.makeBiosBootable && p.syslinux == null then
      throw "gonixiso spec: isoImage.makeBiosBootable is set but packages.syslinux is null"
    else if !i.makeBiosBootable && p.syslinux != null then
      throw "gonixiso spec: packages.syslinux must be null when isoImage.makeBiosBootable is not set"
    else if i.makeEfiBootable && p.grub2_efi == null then
      throw "gonixiso spec: isoImage.makeEfiBootable is set but packages.grub2_efi is null"
    else if !i.makeEfiBootable && p.grub2_efi != null then
      throw "gonixiso spec: packages.grub2_efi must be null when isoImage.makeEfiBootable is not set"
    else if memtest && (p.memtest86plus == null || p.memtest86plusFile == null) then
      throw "gonixiso spec: boot.loader.grub.memtest86.enable is set but packages.memtest86plus or packages.memtest86plusFile is null"
    else if !memtest && (p.memtest86plus != null || p.memtest86plusFile != null) then
      throw "gonixiso spec: packages.memtest86plus is set but boot.loader.grub.memtest86.enable is not"
    else spec;
in
writeText name (builtins.toJSON consistent)

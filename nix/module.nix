# gonixiso's NixOS module: nixpkgs' own iso-image.nix, plus config.system.build.gonixiso, the ISO
# spec (docs/spec.md) that `gonixiso build` and `gonixiso assemble --spec` turn into the ISO.
#
#   nixosConfigurations.installer = nixpkgs.lib.nixosSystem {
#     modules = [
#       "${nixpkgs}/nixos/modules/installer/cd-dvd/installation-cd-minimal.nix"  # or any profile
#       gonixiso.nixosModules.default
#       { isoImage.squashfsCompression = "zstd -Xcompression-level 6"; }
#     ];
#   };
#
# The live-boot contract stays nixpkgs': importing iso-image.nix (nothing else imports it twice:
# the module system keys imports by file) gives the configuration lib.isoFileSystems,
# root=LABEL=<volumeID> (scripted initrd) or /dev/disk/by-label (systemd initrd), the initrd
# modules and the registration of the store at boot. This module only reads what iso-image.nix
# would read and writes it down, resolved to store paths, with nix/spec.nix.
#
# Versions. Checked against these revisions of nixos/modules/installer/cd-dvd/iso-image.nix, read
# from source (nixpkgs cannot be evaluated where this was written; see docs/spec.md):
#   - NixOS/nixpkgs@ccdd20e210a43772883574bb1f43b40f4afd2299 (unstable, the newest read; its option
#     names are in testdata/nixpkgs/iso-image-options.txt): image.* names, specialisations in the
#     menus, systemd initrd, CHRP and New World Mac boot, memtest86plus.efi, /nixos-installer-marker.
#   - NixOS/nixpkgs@7a4a81cc364606123cdd81b701ad940210d6d84a (CHRP added; boot.postBootCommands).
#   - Malix-Labs/nixpkgs@230f71705be20c9df5d8a7197fe3fec7fb557ebc and faukah/nixpkgs@3b20077 (25.05
#     and later: image.baseName/image.fileName, configurationName, showConfiguration, kernels at
#     /boot/<store path>/<file>, /EFI/BOOT/...).
#   - Kamillaova/nixpkgs-termux@53f606e (a 24.05/24.11-era fork: isoImage.isoName, /boot/bzImage,
#     /EFI/BOOT/..., squashfs inlined), piegamesde/nixpkgs@026e456 (early 2023) and the 23.05 and
#     23.11 changes named by their pull requests: makeBiosBootable (#219351, #233518),
#     prependToMenuLabel (#223610), forceTextMode (#249218), /EFI/BOOT upper case (#287798, 24.05),
#     the squashfs built inside the ISO derivation (#295092, 24.05).
# Every option that some of these versions lack is read only where `options` declares it, with
# iso-image.nix's behaviour before the option existed as the fallback.
#
# Every read of the configuration goes through get/getIn/getOr/has/definedIn below, with the option
# path written out as a string: internal/nixcheck reads those strings and checks each against the
# option names copied from the current iso-image.nix (testdata/nixpkgs), a drift check for a
# module that cannot be evaluated against nixpkgs here.
{ config, options, lib, pkgs, modulesPath, ... }:

let
  inherit (builtins) filter foldl' head tail isAttrs isList split attrValues concatLists
    concatStringsSep elem mapAttrs stringLength substring;

  # Option paths, read from `config` (or a specialisation's configuration) and `options`.
  splitPath = p: filter builtins.isString (split "\\." p);
  getPath = attrs: p: foldl' (a: n: a.${n}) attrs (splitPath p);
  hasPath = attrs: p:
    let
      go = a: ns:
        if ns == [ ] then true
        else if isAttrs a && a ? ${head ns} then go a.${head ns} (tail ns)
        else false;
    in
    go attrs (splitPath p);

  has = p: hasPath options p;
  get = p: getPath config p;
  getIn = cfg: p: getPath cfg p;
  getOr = p: default: if has p then get p else default;
  # The files that define an option (after mkIf and priorities).
  definedIn = p: map toString ((getPath options p).files or [ ]);

  isoImageFile = "/installer/cd-dvd/iso-image.nix";
  hasSuffix = s: x:
    let n = stringLength s; m = stringLength x; in
    m >= n && substring (m - n) n x == s;
  removeSuffix = s: x:
    if hasSuffix s x then substring 0 (stringLength x - stringLength s) x else x;
  unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];
  str = x: "${x}"; # a derivation, a Nix path (copied to the store) or a string, as a string with context

  toplevel = get "system.build.toplevel";
  specs = get "specialisation";

  # iso-image.nix lists specialisations in its menus, with per-configuration names and a way to
  # hide one, since nixpkgs 25.05 (isoImage.configurationName and isoImage.showConfiguration
  # came with it). Before, a specialisation's toplevel was carried in the store but had no menu
  # entry, no kernel and no initrd on the ISO: showConfiguration = false says the same to gonixiso.
  specialisationMenus = has "isoImage.showConfiguration";

  bios = get "isoImage.makeBiosBootable";
  efi = get "isoImage.makeEfiBootable";
  compress = get "isoImage.compressImage";
  memtest = getOr "boot.loader.grub.memtest86.enable" false;

  # The file name. nixpkgs 25.05 renamed isoImage.isoName to image.fileName and isoImage.isoBaseName
  # to image.baseName (mkRenamedOptionModuleWith, sinceRelease 2505; reading the old names traces
  # a warning from 25.11 on). image.fileName holds every extension (".iso.zst" with compressImage);
  # isoImage.isoName held the ISO's name without the ".zst" that compressImage appended. The new
  # names are used where iso-image.nix itself defines image.filePath: nixpkgs 24.11 had
  # image/file-options.nix for other image builders, without an image.extension for ISOs.
  newImageNames = has "image.fileName" && builtins.any (hasSuffix isoImageFile) (definedIn "image.filePath");
  image =
    if newImageNames then {
      fileName = get "image.fileName";
      baseName = get "image.baseName";
    } else {
      fileName = get "isoImage.isoName" + (if compress then ".zst" else "");
      baseName = removeSuffix ".iso" (get "isoImage.isoName");
    };

  # isoImage.contents holds the user's entries and the ones iso-image.nix adds itself, which
  # gonixiso makes on its own (kernels, initrds, menus, the EFI image, ...). The spec keeps the
  # user's: every entry whose target is one of these is left out. Targets by nixpkgs version:
  #   all versions:       /version.txt, /isolinux, /isolinux/isolinux.cfg, /isolinux/background.png,
  #                       /boot/efi.img, /EFI, /boot/grub (loopback.cfg; also CHRP's grub folder),
  #                       /boot/memtest.bin
  #   before 24.05:       /nix-store.squashfs (a separate squashfs derivation), /EFI/boot/efi-background.png,
  #                       /EFI/boot/grub-theme
  #   24.05 and later:    /EFI/BOOT/efi-background.png, /EFI/BOOT/grub-theme
  #   before 25.05:       /boot/<kernelFile>, /boot/<initrdFile> (e.g. /boot/bzImage, /boot/initrd)
  #   25.05 and later:    /boot/<kernel store path>/<kernelFile>, /boot/<initrd store path>/<initrdFile>
  #                       for the configuration and each specialisation
  #   unstable (ccdd20e): /nixos-installer-marker, /boot/grub/grub-theme, /ppc/bootinfo.txt,
  #                       /System/Library/CoreServices/BootX (CHRP and New World Mac, refused below)
  kernelFile = get "system.boot.loader.kernelFile";
  initrdFile = get "system.boot.loader.initrdFile";
  bootFilesOf = cfg: [
    "/boot/${(getIn cfg "boot.kernelPackages").kernel}/${getIn cfg "system.boot.loader.kernelFile"}"
    "/boot/${getIn cfg "system.build.initialRamdisk"}/${getIn cfg "system.boot.loader.initrdFile"}"
  ];
  reservedTargets = [
    "/version.txt"
    "/nix-store.squashfs"
    "/boot/${kernelFile}"
    "/boot/${initrdFile}"
    "/isolinux"
    "/isolinux/isolinux.cfg"
    "/isolinux/background.png"
    "/boot/efi.img"
    "/EFI"
    "/boot/grub"
    "/EFI/boot/efi-background.png"
    "/EFI/BOOT/efi-background.png"
    "/boot/memtest.bin"
    "/EFI/boot/grub-theme"
    "/EFI/BOOT/grub-theme"
    "/boot/grub/grub-theme"
    "/nixos-installer-marker"
    "/ppc/bootinfo.txt"
    "/System/Library/CoreServices/BootX"
  ]
  ++ bootFilesOf config
  ++ concatLists (map (s: bootFilesOf s.configuration) (attrValues specs));

  userContents = map
    (e: { source = str e.source; target = e.target; })
    (filter (e: !(elem e.target reservedTargets)) (get "isoImage.contents"));

  # The definitions of isoImage.contents, by the file that made them (after mkIf and priorities).
  contentDefs = (getPath options "isoImage.contents").definitionsWithLocations or [ ];
  contentsDefinedIn = pred: concatLists (map
    (d: if isList d.value then d.value else [ d.value ])
    (filter (d: pred (toString d.file)) contentDefs));
  isoImageContents = contentsDefinedIn (hasSuffix isoImageFile);
  # Entries a user (any module but iso-image.nix) put at a reserved target are left out of the
  # spec like iso-image.nix's own: say so rather than drop them silently.
  shadowed = filter (e: isAttrs e && e ? target && elem e.target reservedTargets)
    (contentsDefinedIn (f: !(hasSuffix isoImageFile f)));

  # isoImage.storeContents is [ toplevel ] plus toplevel.drvPath with
  # includeSystemBuildDependencies (both added by iso-image.nix), plus the user's. The spec leaves
  # the toplevel out (it is implied) and keeps the drvPath as nixpkgs does: its string context
  # makes every derivation the system is built from, and their outputs, inputs of the spec.
  storeContents = filter (p: p != str toplevel) (unique (map str (get "isoImage.storeContents")));

  # The file iso-image.nix copies to /boot/memtest.bin: its own entry when it made one
  # (makeBiosBootable), else what the current iso-image.nix takes (memtest86plus.efi, a file
  # the EFI GRUB can boot too), else the older memtest.bin.
  memtestEntries = filter (e: e.target == "/boot/memtest.bin") isoImageContents;
  memtestFile =
    if memtestEntries != [ ] then str (head memtestEntries).source
    else if pkgs.memtest86plus ? efi then str pkgs.memtest86plus.efi
    else "${pkgs.memtest86plus}/memtest.bin";

  hostSystem = pkgs.stdenv.hostPlatform.system;

  # What gonixiso cannot make (yet): refused when the spec is built, not when the system is.
  unsupported =
    lib.optional (hostSystem != "x86_64-linux")
      "the system is ${hostSystem}; gonixiso makes x86_64-linux images only (aarch64 and others are not supported yet)"
    ++ lib.optional (getOr "boot.loader.grub.forcei686" false)
      "boot.loader.grub.forcei686 is set; gonixiso makes 64-bit UEFI images only (BOOTX64.EFI)"
    ++ lib.optional (getOr "isoImage.makeChrpBootable" false)
      "isoImage.makeChrpBootable is set; gonixiso does not make CHRP (PowerPC) images"
    ++ lib.optional (getOr "isoImage.makeNewWorldMacBootable" false)
      "isoImage.makeNewWorldMacBootable is set; gonixiso does not make New World Mac images";

  mkSpec = import ./spec.nix { inherit (pkgs) writeText; };

  spec = mkSpec {
    name = "gonixiso-spec.json";
    system = hostSystem;
    toplevel = str toplevel;
    isoImage = {
      volumeID = get "isoImage.volumeID";
      edition = get "isoImage.edition";
      squashfsCompression = get "isoImage.squashfsCompression";
      makeEfiBootable = efi;
      makeBiosBootable = bios;
      makeUsbBootable = get "isoImage.makeUsbBootable";
      prependToMenuLabel = getOr "isoImage.prependToMenuLabel" "";
      appendToMenuLabel = get "isoImage.appendToMenuLabel";
      configurationName = getOr "isoImage.configurationName" null;
      showConfiguration = getOr "isoImage.showConfiguration" true;
      forceTextMode = getOr "isoImage.forceTextMode" false;
      splashImage = get "isoImage.splashImage";
      efiSplashImage = get "isoImage.efiSplashImage";
      grubTheme = get "isoImage.grubTheme";
      syslinuxTheme = get "isoImage.syslinuxTheme";
      contents = userContents;
      inherit storeContents;
      includeSystemBuildDependencies = get "isoImage.includeSystemBuildDependencies";
      compressImage = compress;
    };
    inherit image;
    boot = {
      loader = {
        timeout = get "boot.loader.timeout";
        grub.memtest86 = {
          enable = memtest;
          params = getOr "boot.loader.grub.memtest86.params" [ ];
        };
      };
      initrd.systemd.enable = getOr "boot.initrd.systemd.enable" false;
    };
    specialisation = mapAttrs
      (_: s: {
        configuration = {
          # iso-image.nix titles a specialisation's entry with the specialisation's own labels.
          isoImage =
            if specialisationMenus then {
              prependToMenuLabel = getIn s.configuration "isoImage.prependToMenuLabel";
              appendToMenuLabel = getIn s.configuration "isoImage.appendToMenuLabel";
              configurationName = getIn s.configuration "isoImage.configurationName";
              showConfiguration = getIn s.configuration "isoImage.showConfiguration";
            } else {
              prependToMenuLabel = getOr "isoImage.prependToMenuLabel" "";
              appendToMenuLabel = get "isoImage.appendToMenuLabel";
              configurationName = null;
              showConfiguration = false;
            };
          system.build.toplevel = str (getIn s.configuration "system.build.toplevel");
        };
      })
      specs;
    packages = {
      # iso-image.nix's grubPkgs.grub2_efi (pkgs.grub2_efi: forcei686 is refused above).
      grub2_efi = if efi then pkgs.grub2_efi else null;
      syslinux = if bios then pkgs.syslinux else null;
      memtest86plus = if memtest then pkgs.memtest86plus else null;
      memtest86plusFile = if memtest then memtestFile else null;
    };
  };
  checkedSpec =
    if unsupported != [ ] then
      throw "gonixiso: cannot make this configuration's ISO: ${concatStringsSep "; " unsupported}"
    else spec;
  # The ISO as a derivation of the file f (nix/image.nix or nix/image-incremental.nix), which runs
  # gonixiso.package in the sandbox.
  imageWith = f: attr:
    if config.gonixiso.package == null then
      throw "gonixiso: system.build.${attr} needs gonixiso.package (gonixiso's flake: overlays.default, or set gonixiso.package = gonixiso.packages.<system>.default)"
    else
      import f {
        gonixiso = config.gonixiso.package;
        spec = checkedSpec;
        system = hostSystem;
        name = "gonixiso-" + image.fileName;
      };
in
{
  # The flake exports this module as a function (import ./nix/module.nix): the file for error
  # messages, and a key so that importing it twice (through two flakes, say) is not a conflict.
  _file = ./module.nix;
  key = "gonixiso#nixosModules.default";

  imports = [ (modulesPath + "/installer/cd-dvd/iso-image.nix") ];

  options.gonixiso = {
    package = lib.mkOption {
      type = lib.types.nullOr lib.types.package;
      default = pkgs.gonixiso or null;
      defaultText = lib.literalExpression "pkgs.gonixiso or null";
      description = ''
        The gonixiso package, for the derivations that run gonixiso inside the Nix sandbox
        (system.build.gonixisoImage and system.build.gonixisoImageIncremental). gonixiso's flake
        provides it (packages.<system>.default, or
        overlays.default as pkgs.gonixiso). system.build.gonixiso, the ISO spec, does not need it.
      '';
    };
  };

  config = {
    # The ISO spec: `nix build .#nixosConfigurations.<name>.config.system.build.gonixiso` realises
    # it and everything it names; `gonixiso assemble --spec result` makes the ISO.
    system.build.gonixiso = checkedSpec;

    # The ISO as a derivation (nix/image.nix), laid out as system.build.isoImage is:
    # $out/iso/<image.fileName> and $out/nix-support/hydra-build-products, for Hydra jobsets,
    # remote builders and `nix build`. The same bytes as `gonixiso build` of the configuration.
    system.build.gonixisoImage = imageWith ./image.nix "gonixisoImage";

    # The same ISO from a SquashFS segment derivation per store path of the image (nix/
    # image-incremental.nix): only changed store paths are compressed again, on any builder, and
    # binary caches serve the rest. Planning it needs import from derivation.
    system.build.gonixisoImageIncremental = imageWith ./image-incremental.nix "gonixisoImageIncremental";

    warnings = lib.optional (shadowed != [ ])
      "gonixiso: isoImage.contents entries at ${concatStringsSep ", " (unique (map (e: e.target) shadowed))} use targets iso-image.nix fills itself (kernels, menus, EFI image, ...); the ISO spec leaves them out, and gonixiso makes those files from the spec.";
  };
}

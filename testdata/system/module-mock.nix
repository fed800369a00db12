# nix/module.nix evaluated against mocks of what nixpkgs hands a NixOS module, since nixpkgs itself
# cannot be evaluated here. Each mock is the test system's configuration as nixpkgs of one era
# would present it to the module: `config` with the values of the options iso-image.nix declares
# and reads, isoImage.contents holding iso-image.nix's own entries (by that era's targets) beside
# the user's, isoImage.storeContents with the toplevel, and `options` declaring just the options of
# that era, with the files that define them.
#
# The module calls nix/spec.nix as the test system does, so a mock of the current nixpkgs must give
# the very spec the test system writes (same JSON, same store path). `checks` says, for each
# property, whether it holds; the flake exposes them as lib.moduleChecks, and internal/nixcheck
# requires every one to be true (`nix eval`, nothing is built).
#
# What this proves: the module's reading of option values, its version switches (the image.* and
# isoImage.isoName names, specialisation menus), its filtering of isoImage.contents, storeContents,
# warnings and refusals. What it does not: that real nixpkgs presents exactly these values (the
# mocks are written from nixpkgs' source, see nix/module.nix for the revisions).
{ system, testLib, configurations }:

let
  inherit (builtins) mapAttrs attrValues concatLists filter listToAttrs fromJSON
    unsafeDiscardStringContext tryEval;

  module = import ../../nix/module.nix;

  # The few lib functions the module uses.
  lib = {
    optional = cond: x: if cond then [ x ] else [ ];
    mkOption = o: o;
    types = { nullOr = t: { nullOr = t; }; package = "package"; };
    literalExpression = text: { _type = "literalExpression"; inherit text; };
  };

  isoImageNix = "/nix/store/00000000000000000000000000000000-source/nixos/modules/installer/cd-dvd/iso-image.nix";
  fileOptionsNix = "/nix/store/00000000000000000000000000000000-source/nixos/modules/image/file-options.nix";
  userNix = "/nix/store/11111111111111111111111111111111-source/configuration.nix";

  option = extra: { _type = "option"; files = [ ]; definitionsWithLocations = [ ]; } // extra;

  # Attribute sets from "a.b.c" paths.
  setPath = path: value:
    let
      go = ns: if ns == [ ] then value else { ${builtins.head ns} = go (builtins.tail ns); };
    in
    go (filter builtins.isString (builtins.split "\\." path));
  merge = a: b:
    a // mapAttrs
      (n: v:
        if a ? ${n} && builtins.isAttrs v && builtins.isAttrs a.${n} && !(v ? _type) && !(v ? outPath) && !(a.${n} ? outPath)
        then merge a.${n} v
        else v)
      b;
  optionsOf = decls: builtins.foldl' merge { } (map (d: setPath d.path (option (d.extra or { }))) decls);

  kernelFile = "bzImage";
  initrdFile = "initrd";

  # What a configuration's system.build and kernel look like to iso-image.nix.
  systemOf = toplevel: {
    build = { inherit toplevel; initialRamdisk = testLib.initrd; };
    boot.loader = { inherit kernelFile initrdFile; };
  };
  kernelTargets = {
    # nixpkgs 25.05 and later: /boot/<store path>/<file>, for each configuration shown.
    current = [ "/boot/${testLib.kernel}/${kernelFile}" "/boot/${testLib.initrd}/${initrdFile}" ];
    # Before: /boot/<file>.
    old = [ "/boot/${kernelFile}" "/boot/${initrdFile}" ];
  };
  entries = sources: map (t: { source = sources; target = t; });
  fake = name: testLib.writeText "mock-${name}" "made by iso-image.nix, never built here";

  # The test system's configuration `sys` as nixpkgs `era` presents it ("2511": the current
  # iso-image.nix, NixOS/nixpkgs@ccdd20e; "2311": before image.* and specialisation menus).
  mock = { sys, era ? "2511", userContents ? sys.config.isoImage.contents, extraStoreContents ? [ ]
         , hostSystem ? system, isoImageExtra ? { } }:
    let
      c = sys.config;
      i = c.isoImage;
      current = era == "2511";
      toplevel = c.system.build.toplevel;
      shown = cfg: cfg.isoImage.showConfiguration;
      bios = i.makeBiosBootable;
      efi = i.makeEfiBootable;
      memtest = c.boot.loader.grub.memtest86.enable;
      memtest86plus = testLib.memtest86plus // { efi = "${testLib.memtest86plus}/memtest.efi"; };

      # iso-image.nix's own isoImage.contents, as the era writes them.
      own =
        [{ source = fake "version"; target = "/version.txt"; }]
        ++ (if current then
          (if shown c then entries (fake "kernel") kernelTargets.current else [ ])
          ++ concatLists (map (s: if shown s.configuration then entries (fake "kernel") kernelTargets.current else [ ]) (attrValues c.specialisation))
        else entries (fake "kernel") kernelTargets.old ++ [{ source = fake "squashfs"; target = "/nix-store.squashfs"; }])
        ++ (if bios then [
          { source = i.splashImage; target = "/isolinux/background.png"; }
          { source = fake "isolinux.cfg"; target = "/isolinux/isolinux.cfg"; }
          { source = "${testLib.syslinux}/share/syslinux"; target = "/isolinux"; }
        ] else [ ])
        ++ (if efi then [
          { source = fake "efi.img"; target = "/boot/efi.img"; }
          { source = fake "EFI"; target = "/EFI"; }
          { source = i.efiSplashImage; target = if current then "/EFI/BOOT/efi-background.png" else "/EFI/boot/efi-background.png"; }
          { source = fake "grub"; target = "/boot/grub"; }
        ] ++ (if current then [{ source = fake "marker"; target = "/nixos-installer-marker"; }] else [ ]) else [ ])
        ++ (if memtest && bios then [{ source = if current then memtest86plus.efi else "${memtest86plus}/memtest.bin"; target = "/boot/memtest.bin"; }] else [ ])
        ++ (if i.grubTheme != null then [{ source = i.grubTheme; target = if current then "/EFI/BOOT/grub-theme" else "/EFI/boot/grub-theme"; }] else [ ]);

      isoName = "${c.image.baseName}.iso";
      isoImage =
        (if current then i // {
          makeChrpBootable = false;
          makeNewWorldMacBootable = false;
          # The renamed options, aliases of image.fileName and image.baseName.
          isoName = c.image.fileName;
          isoBaseName = c.image.baseName;
        } else builtins.removeAttrs i [ "configurationName" "showConfiguration" ] // {
          inherit isoName;
          isoBaseName = "nixos";
        }) // {
          contents = own ++ userContents;
          storeContents = [ toplevel ] ++ extraStoreContents ++ i.storeContents;
        } // isoImageExtra;

      config = merge
        {
          inherit isoImage;
          boot = merge c.boot {
            kernelPackages.kernel = testLib.kernel;
            loader.grub.forcei686 = false;
          };
          system = systemOf toplevel;
          specialisation = mapAttrs
            (_: s: {
              configuration = {
                isoImage = if current then s.configuration.isoImage else { };
                boot.kernelPackages.kernel = testLib.kernel;
                system = systemOf s.configuration.system.build.toplevel;
              };
            })
            c.specialisation;
        }
        (if current then { image = c.image // { extension = if i.compressImage then "iso.zst" else "iso"; filePath = "iso/${c.image.fileName}"; }; } else { });

      isoImageOptions =
        [ "volumeID" "edition" "squashfsCompression" "makeEfiBootable" "makeBiosBootable" "makeUsbBootable"
          "prependToMenuLabel" "appendToMenuLabel" "forceTextMode" "splashImage" "efiSplashImage"
          "grubTheme" "syslinuxTheme" "storeContents" "includeSystemBuildDependencies" "compressImage" ]
        ++ (if current then [ "configurationName" "showConfiguration" "makeChrpBootable" "makeNewWorldMacBootable" "isoName" "isoBaseName" ]
        else [ "isoName" "isoBaseName" ]);
      options = optionsOf (
        map (n: { path = "isoImage.${n}"; }) isoImageOptions
        ++ [
          {
            path = "isoImage.contents";
            extra.definitionsWithLocations =
              [{ file = isoImageNix; value = own; }] ++ (if userContents != [ ] then [{ file = userNix; value = userContents; }] else [ ]);
          }
          { path = "boot.loader.timeout"; }
          { path = "boot.loader.grub.memtest86.enable"; }
          { path = "boot.loader.grub.memtest86.params"; }
          { path = "boot.loader.grub.forcei686"; }
          { path = "boot.initrd.systemd.enable"; }
          { path = "specialisation"; }
        ]
        ++ (if current then [
          { path = "image.baseName"; extra.files = [ fileOptionsNix isoImageNix ]; }
          { path = "image.extension"; extra.files = [ isoImageNix ]; }
          { path = "image.fileName"; }
          { path = "image.filePath"; extra.files = [ isoImageNix ]; }
        ] else [ ]));

      pkgs = {
        inherit (testLib) writeText syslinux grub2_efi;
        inherit memtest86plus;
        stdenv.hostPlatform.system = hostSystem;
      };

      evaluated = module { inherit config options lib pkgs; modulesPath = "/mock/nixos/modules"; };
    in
    {
      spec = evaluated.config.system.build.gonixiso;
      inherit (evaluated.config) warnings;
      inherit evaluated;
    };

  test = configurations.gonixiso-test;
  custom = configurations.gonixiso-test-custom;
  json = spec: fromJSON (unsafeDiscardStringContext spec.text);
  fromConfiguration = nixos: import ../../nix/from-configuration.nix { inherit nixos; };

  current = mock { sys = test; };
  currentCustom = mock { sys = custom; };
  old = mock { sys = test; era = "2311"; };
  oldCustom = mock { sys = custom; era = "2311"; };
  shadowing = mock {
    sys = custom;
    userContents = custom.config.isoImage.contents ++ [{ source = testLib.isoContentsFile; target = "/boot/grub"; }];
  };
  withDrv = mock { sys = test; extraStoreContents = [ test.config.system.build.toplevel.drvPath ]; };
  aarch64 = mock { sys = test; hostSystem = "aarch64-linux"; };
  chrp = mock { sys = test; isoImageExtra.makeChrpBootable = true; };

  # nixpkgs before 25.05 had no specialisation menus: the spec hides each specialisation.
  hideSpecs = j: j // {
    specialisation = mapAttrs
      (_: s: {
        configuration = s.configuration // {
          isoImage = {
            inherit (j.isoImage) prependToMenuLabel appendToMenuLabel;
            configurationName = null;
            showConfiguration = false;
          };
        };
      })
      j.specialisation;
  };
  # ... and has no isoImage.configurationName or isoImage.showConfiguration for the main entry,
  oldMain = j: j // { isoImage = j.isoImage // { configurationName = null; showConfiguration = true; }; };
  # ... and names the file isoImage.isoName (here image.baseName + ".iso"), + ".zst" with compressImage.
  oldNames = j: j // { image = j.image // { fileName = "${j.image.baseName}.iso${if j.isoImage.compressImage then ".zst" else ""}"; }; };
in
{
  inherit current currentCustom old oldCustom shadowing withDrv;

  checks = {
    # A mock of the current nixpkgs gives the test system's own specs, byte for byte.
    currentDefaultIsTestSpec = current.spec.outPath == test.config.system.build.gonixiso.outPath;
    currentCustomIsTestSpec = currentCustom.spec.outPath == custom.config.system.build.gonixiso.outPath;
    currentNoWarnings = current.warnings == [ ] && currentCustom.warnings == [ ];
    # nixpkgs 23.11: names from isoImage.isoName (+ .zst), specialisations hidden.
    oldDefault = json old.spec == hideSpecs (json test.config.system.build.gonixiso);
    oldCustom = json oldCustom.spec
      == hideSpecs (oldMain (oldNames (json custom.config.system.build.gonixiso)));
    # A user's entry at a target iso-image.nix fills is left out, with a warning.
    shadowedLeftOut = shadowing.spec.outPath == custom.config.system.build.gonixiso.outPath;
    shadowedWarns = builtins.length shadowing.warnings == 1;
    # includeSystemBuildDependencies: the toplevel's drvPath stays in storeContents.
    drvPathKept = (json withDrv.spec).isoImage.storeContents == [ (unsafeDiscardStringContext test.config.system.build.toplevel.drvPath) ];
    # nix/from-configuration.nix: the module's spec when there is one; the configuration
    # extended with the module when it has iso-image.nix only; an error when it has neither.
    fromConfigurationWithModule = fromConfiguration {
      config.system.build.gonixiso = test.config.system.build.gonixiso;
      options.isoImage.volumeID = { };
    } == test.config.system.build.gonixiso;
    fromConfigurationExtends = fromConfiguration {
      config.system.build = { };
      options.isoImage.volumeID = { };
      extendModules = { modules }:
        if modules == [ ../../nix/module.nix ] then { config.system.build.gonixiso = current.spec; }
        else throw "extended with ${toString modules}";
    } == test.config.system.build.gonixiso;
    fromConfigurationRefusesNonIso = !(tryEval (fromConfiguration {
      config.system.build = { };
      options = { };
    }).outPath).success;
    # What gonixiso cannot make is refused when the spec is evaluated.
    refusesAarch64 = !(tryEval aarch64.spec.outPath).success;
    refusesChrp = !(tryEval chrp.spec.outPath).success;
  };
}

# The derivations behind flake.nix. Builders run busybox's shell from the store; host files come
# from /gonixiso-host (see scripts/setup).
{ system }:
let
  host = "/gonixiso-host";

  # A derivation whose builder is a busybox shell script. `script` runs with `set -eu`, PATH holding
  # busybox's applets, and the attributes in `env` as environment variables.
  runBusybox = name: env: script: derivation ({
    inherit name system;
    builder = "${busybox}/bin/busybox";
    args = [ "sh" "-euc" script ];
    PATH = "${busybox}/bin";
  } // env);

  # busybox itself, imported from Debian's busybox-static: bin/busybox and a symlink per applet.
  busybox = derivation {
    name = "busybox-static";
    inherit system;
    builder = "${host}/bin/busybox";
    args = [ "sh" "-eu" (builtins.toFile "busybox-builder.sh" ''
      ${host}/bin/busybox mkdir -p $out/bin
      ${host}/bin/busybox cp ${host}/bin/busybox $out/bin/busybox
      for a in $($out/bin/busybox --list); do
        [ "$a" = busybox ] || ${host}/bin/busybox ln -s busybox $out/bin/$a
      done
    '') ];
  };

  # Debian's kernel and the modules the live initrd loads.
  kernel = runBusybox "linux-debian" { } ''
    mkdir -p $out/lib/modules
    cp ${host}/kernel/bzImage ${host}/kernel/version $out/
    ver=$(cat ${host}/kernel/version)
    cp -r ${host}/kernel/modules $out/lib/modules/$ver
  '';

  # syslinux as nixpkgs' package lays it out: share/syslinux with isolinux.bin, isohdpfx.bin and
  # the .c32 modules.
  syslinux = runBusybox "syslinux-debian" { } ''
    mkdir -p $out/share
    cp -r ${host}/syslinux $out/share/syslinux
  '';

  # grub2_efi: lib/grub/x86_64-efi, bin/grub-mkimage, share/grub/unicode.pf2.
  # grub-mkimage is Debian's binary with its loader and libraries beside it (lib/ld), run by a
  # busybox script through that loader: it needs nothing outside the store, as nixpkgs' does.
  grub2_efi = runBusybox "grub-efi-debian" { } ''
    cp -r ${host}/grub $out
    chmod -R u+w $out
    mkdir -p $out/bin
    printf '#!%s\nexec %s --library-path %s %s "$@"\n' ${busybox}/bin/sh \
      $out/lib/ld/ld-linux-x86-64.so.2 $out/lib/ld $out/libexec/grub-mkimage > $out/bin/grub-mkimage
    chmod 0555 $out/bin/grub-mkimage
  '';

  # gonixiso, statically linked, as scripts/setup builds it into the host folder from the checkout:
  # for the test flake's ISO derivations when no other gonixiso is given.
  hostGonixiso = runBusybox "gonixiso-host" { } ''
    mkdir -p $out/bin
    cp ${host}/gonixiso/bin/gonixiso $out/bin/gonixiso
  '';

  # A store path with the file shapes a SquashFS writer must get right: a multi-block file of
  # incompressible data, a sparse file, a file ending exactly on a block, tiny and empty files,
  # duplicates, an executable, symlinks (relative, absolute, dangling), an empty directory and a
  # name with spaces and unicode.
  payload = runBusybox "gonixiso-test-payload" { } ''
    mkdir -p $out/share/data $out/share/empty-dir $out/bin "$out/share/odd names/sp ace ü"
    # 2.5 MiB of pseudo-random bytes, deterministic: sha256 chained over a counter.
    i=0; : > $out/share/data/random.bin
    seed=gonixiso
    while [ $i -lt 2560 ]; do
      seed=$(echo "$seed$i" | sha256sum | cut -c1-64)
      printf '%s' "$seed" | xxd -r -p > chunk
      cat chunk chunk chunk chunk chunk chunk chunk chunk chunk chunk chunk chunk chunk chunk chunk chunk \
          chunk chunk chunk chunk chunk chunk chunk chunk chunk chunk chunk chunk chunk chunk chunk chunk >> $out/share/data/random.bin
      i=$((i+1))
    done
    rm chunk
    dd if=/dev/zero of=$out/share/data/zeros.bin bs=1024 count=3072 2>/dev/null
    dd if=$out/share/data/random.bin of=$out/share/data/one-block.bin bs=1024 count=1024 2>/dev/null
    seq 1 200000 > $out/share/data/numbers.txt
    echo hello > $out/share/data/hello.txt
    cp $out/share/data/hello.txt $out/share/data/hello-copy.txt
    : > $out/share/data/empty
    printf '#!${busybox}/bin/sh\necho payload\n' > $out/bin/payload-hello
    chmod 0555 $out/bin/payload-hello
    ln -s data/hello.txt $out/share/relative-link
    ln -s $out/share/data/numbers.txt $out/share/absolute-link
    ln -s does-not-exist $out/share/dangling-link
    echo odd > "$out/share/odd names/sp ace ü/file with spaces.txt"
  '';

  # sha256 of every regular file in the store paths below, as `sha256sum -c` reads it. Stage 2
  # checks them all after booting, so a single wrong byte in the SquashFS fails the boot.
  mkManifest = paths: runBusybox "gonixiso-test-manifest" { inherit paths; } ''
    mkdir -p $out
    for p in $paths; do find $p -type f -exec sha256sum {} +; done | sort -k 2 > $out/sha256sums
  '';

  # The stage-1 live initrd: busybox, the modules and the NixOS live-ISO contract in /init.
  initrd = runBusybox "initrd-gonixiso" { stage1 = ./stage-1-init.sh; inherit kernel; } ''
    mkdir -p root/bin root/lib/modules root/dev root/proc root/sys root/mnt-root
    cp ${busybox}/bin/busybox root/bin/busybox
    cp -r $kernel/lib/modules/* root/lib/modules/
    cp $stage1 root/init
    chmod 0755 root/init
    # Every entry dated 1 and listed in sorted order, so the cpio is reproducible.
    find root -exec touch -h -d @1 {} +
    mkdir -p $out
    (cd root && find . | sort | cpio -o -H newc 2>/dev/null) | gzip -9 -n > $out/initrd
  '';

  # A system: what nixpkgs' top-level.nix, kernel.nix, bootspec.nix and specialisation.nix write
  # into a toplevel, for one configuration and its specialisations.
  #
  # extraDependencies are more store paths for the closure, listed after grub2_efi in the
  # toplevel's extra-dependencies file as NixOS's system.extraDependencies are (the benchmark
  # corpus, testdata/corpus, puts its packages there). checkEtc = false leaves etc out of the
  # manifest of files stage 2 checks, so that only the toplevel depends on etc's contents (the
  # corpus's variants differ in exactly the store paths they change). The defaults leave the test
  # system's store paths as they are.
  nixosSystem =
    { hostName
    , volumeID
    , specialisations ? { }
    , nixosLabel ? "25.11.20261125.gonixiso"
    , extraDependencies ? [ ]
    , checkEtc ? true
      # A note written into the main toplevel alone (its file `note`): a configuration whose store
      # paths are this one's but for exactly one, the toplevel (null: no note, no change).
    , note ? null
      # The values of the isoImage, image and boot options nixpkgs' iso-image.nix would read, over
      # isoDefaults below; they go into config and into config.system.build.gonixiso, the ISO
      # spec. A specialisation's own isoImage.configurationName and isoImage.showConfiguration go
      # in its entry of `specialisations`, beside kernelParams. None of this changes a derivation
      # of the toplevel.
    , iso ? { }
    }:
    let
      etc = runBusybox "etc" { } ''
        mkdir -p $out/etc
        cat > $out/etc/os-release <<OS
      NAME=NixOS
      ID=nixos
      VERSION="25.11 (Gonixiso)"
      VERSION_CODENAME=gonixiso
      VERSION_ID="25.11"
      BUILD_ID="${nixosLabel}"
      PRETTY_NAME="NixOS 25.11 (Gonixiso)"
      OS
        echo ${hostName} > $out/etc/hostname
      '';
      sw = runBusybox "system-path" { } ''
        mkdir -p $out/bin $out/share
        for a in ${busybox}/bin/*; do ln -s $a $out/bin/; done
        ln -s ${syslinux}/share/syslinux $out/share/syslinux
        ln -s ${payload}/bin/payload-hello $out/bin/payload-hello
      '';
      manifest = mkManifest ([ busybox kernel initrd syslinux grub2_efi payload ] ++ (if checkEtc then [ etc ] else [ ]) ++ [ sw ]);
      baseParams = [ "boot.shell_on_fail" "root=LABEL=${volumeID}" "console=ttyS0,115200" "panic=1" "loglevel=4" ];

      # One toplevel. `configName` names it in stage 2's marker; `specs` maps specialisation names
      # to their toplevel derivations (empty for a specialisation itself: NixOS does not nest them).
      mkToplevel = { configName, kernelParams, specs, note ? null }:
        let
          bootspecOf = out: {
            "org.nixos.bootspec.v1" = {
              init = "${out}/init";
              initrd = "${initrd}/initrd";
              kernel = "${kernel}/bzImage";
              inherit kernelParams;
              label = "NixOS 25.11 (Gonixiso) ${nixosLabel} (Linux debian)";
              inherit system;
              toplevel = out;
            };
          };
          out = builtins.placeholder "out";
          bootJson = builtins.toJSON (bootspecOf out // {
            "org.nixos.specialisation.v1" = builtins.mapAttrs (_: s: s.bootspec) specs;
            "org.gonixiso.test.v1" = { note = "an extension namespace that readers must ignore"; };
          });
          drv = runBusybox "nixos-system-${hostName}-${nixosLabel}"
            {
              inherit bootJson configName;
              stage2 = ./stage-2-init.sh;
              kernelParams = toString kernelParams;
              specLinks = toString (builtins.attrValues (builtins.mapAttrs (n: s: "${n}=${s}") specs));
            } (''
            mkdir -p $out/specialisation
            ln -s ${kernel}/bzImage $out/kernel
            ln -s ${kernel}/lib/modules $out/kernel-modules
            ln -s ${initrd}/initrd $out/initrd
            ln -s ${etc}/etc $out/etc
            ln -s ${sw} $out/sw
            printf '%s' "$kernelParams" > $out/kernel-params
            printf '%s' "${nixosLabel}" > $out/nixos-version
            printf '%s' "${system}" > $out/system
            printf '%s' "${toString ([ grub2_efi ] ++ extraDependencies)}" > $out/extra-dependencies
            printf '%s' 1 > $out/init-interface-version
            printf '%s\n' "$bootJson" > $out/boot.json
            for s in $specLinks; do ln -s "''${s#*=}" "$out/specialisation/''${s%%=*}"; done
            sed -e "s|@busybox@|${busybox}|g" \
                -e "s|@out@|$out|g" \
                -e "s|@configName@|$configName|g" \
                -e "s|@kernelParams@|$kernelParams|g" \
                -e "s|@manifest@|${manifest}|g" \
                -e "s|@expectedPaths@|${busybox} ${kernel} ${initrd} ${syslinux} ${grub2_efi} ${payload} ${etc} ${sw} ${manifest}|g" \
                $stage2 > $out/init
            chmod 0555 $out/init
          '' + (if note == null then "" else "printf '%s' '${note}' > $out/note\n"));
        in
        drv // { bootspec = bootspecOf drv.outPath; };

      specToplevels = builtins.mapAttrs
        (name: s: mkToplevel {
          configName = name;
          kernelParams = baseParams ++ s.kernelParams;
          specs = { };
        })
        specialisations;
      toplevel = mkToplevel { configName = "main"; kernelParams = baseParams; specs = specToplevels; inherit note; };

      isoCfg = recursiveUpdate (isoDefaults { inherit nixosLabel volumeID; }) iso;
      # A specialisation inherits the configuration's menu labels unless it sets its own.
      specIsoImage = name: {
        prependToMenuLabel = specialisations.${name}.isoImage.prependToMenuLabel or isoCfg.isoImage.prependToMenuLabel;
        appendToMenuLabel = specialisations.${name}.isoImage.appendToMenuLabel or isoCfg.isoImage.appendToMenuLabel;
        configurationName = specialisations.${name}.isoImage.configurationName or null;
        showConfiguration = specialisations.${name}.isoImage.showConfiguration or true;
      };
      specialisation = builtins.mapAttrs
        (name: t: {
          configuration = {
            isoImage = specIsoImage name;
            system.build.toplevel = t;
          };
        })
        specToplevels;
    in
    {
      config = {
        inherit volumeID specialisation;
        inherit (isoCfg) isoImage image boot;
        system.build = {
          inherit toplevel;
          # The ISO spec, as nix/module.nix writes it for a NixOS configuration (docs/spec.md).
          gonixiso = mkIsoSpec { inherit toplevel specialisation; inherit (isoCfg) isoImage image boot; };
        };
      };
    };

  # What nix/module.nix does for a NixOS configuration, for the test system: the packages the ISO
  # needs (the toplevel's own syslinux and grub2_efi, as an installer's closure holds them) and
  # the spec written by nix/spec.nix.
  mkIsoSpec = { toplevel, specialisation, isoImage, image, boot }:
    let memtest = boot.loader.grub.memtest86.enable; in
    (import ../../nix/spec.nix { inherit writeText; }) {
      inherit system toplevel isoImage image boot;
      specialisation = builtins.mapAttrs
        (_: s: {
          configuration = {
            inherit (s.configuration) isoImage;
            system.build.toplevel = s.configuration.system.build.toplevel;
          };
        })
        specialisation;
      packages = {
        grub2_efi = if isoImage.makeEfiBootable then grub2_efi else null;
        syslinux = if isoImage.makeBiosBootable then syslinux else null;
        memtest86plus = if memtest then memtest86plus else null;
        # The file nixpkgs' iso-image.nix copies to /boot/memtest.bin today (memtest86plus.efi).
        memtest86plusFile = if memtest then "${memtest86plus}/memtest.efi" else null;
      };
    };

  # nixpkgs' defaults for the options the spec holds, for a test system: what iso-image.nix and
  # installation-cd-base.nix give (zstd 19; BIOS, UEFI and USB; a 10 s timeout; " Installer"),
  # except that the test system has no splash images, no GRUB theme and no memtest86+ unless
  # it asks for them (nixpkgs' defaults fetch artwork from GitHub).
  isoDefaults = { nixosLabel, volumeID }: {
    isoImage = {
      inherit volumeID;
      edition = "";
      squashfsCompression = "zstd -Xcompression-level 19";
      makeEfiBootable = true;
      makeBiosBootable = true;
      makeUsbBootable = true;
      prependToMenuLabel = "";
      appendToMenuLabel = " Installer";
      configurationName = null;
      showConfiguration = true;
      forceTextMode = false;
      splashImage = null;
      efiSplashImage = null;
      grubTheme = null;
      syslinuxTheme = defaultSyslinuxTheme;
      contents = [ ];
      storeContents = [ ];
      includeSystemBuildDependencies = false;
      compressImage = false;
    };
    image = rec {
      baseName = "nixos-${nixosLabel}-${system}";
      fileName = "${baseName}.iso";
    };
    boot = {
      loader = {
        timeout = 10;
        grub.memtest86 = { enable = false; params = [ ]; };
      };
      initrd.systemd.enable = false;
    };
  };

  # isoImage.syslinuxTheme's default in nixpkgs, with distroName NixOS.
  defaultSyslinuxTheme = ''
    MENU TITLE NixOS
    MENU RESOLUTION 800 600
    MENU CLEAR
    MENU ROWS 6
    MENU CMDLINEROW -4
    MENU TIMEOUTROW -3
    MENU TABMSGROW  -2
    MENU HELPMSGROW -1
    MENU HELPMSGENDROW -1
    MENU MARGIN 0

    #                                FG:AARRGGBB  BG:AARRGGBB   shadow
    MENU COLOR BORDER       30;44      #00000000    #00000000   none
    MENU COLOR SCREEN       37;40      #FF000000    #00E2E8FF   none
    MENU COLOR TABMSG       31;40      #80000000    #00000000   none
    MENU COLOR TIMEOUT      1;37;40    #FF000000    #00000000   none
    MENU COLOR TIMEOUT_MSG  37;40      #FF000000    #00000000   none
    MENU COLOR CMDMARK      1;36;40    #FF000000    #00000000   none
    MENU COLOR CMDLINE      37;40      #FF000000    #00000000   none
    MENU COLOR TITLE        1;36;44    #00000000    #00000000   none
    MENU COLOR UNSEL        37;44      #FF000000    #00000000   none
    MENU COLOR SEL          7;37;40    #FFFFFFFF    #FF5277C3   std
  '';

  # Attribute sets merged recursively, the right one winning; lists and derivations are values.
  recursiveUpdate = a: b:
    a // builtins.mapAttrs
      (n: v:
        if a ? ${n} && builtins.isAttrs v && builtins.isAttrs a.${n} && !(v ? outPath) && !(a.${n} ? outPath)
        then recursiveUpdate a.${n} v
        else v)
      b;

  # pkgs.writeText for a store without nixpkgs: the text goes to the builder as a file (passAsFile),
  # and its string context makes every store path it names an input, so the output refers to
  # them (builtins.toFile cannot name derivation outputs).
  writeText = name: text: derivation {
    inherit name system text;
    builder = "${busybox}/bin/busybox";
    args = [ "sh" "-euc" "cp \"$textPath\" \"$out\"" ];
    passAsFile = [ "text" ];
  };

  # memtest86+ as nixpkgs' memtest86plus lays it out: memtest.bin and memtest.efi (Debian's
  # memtest86+ 6.10, laid out by scripts/setup).
  memtest86plus = runBusybox "memtest86plus-debian" { } ''
    mkdir -p $out
    cp ${host}/memtest86plus/memtest.bin ${host}/memtest86plus/memtest.efi $out/
  '';

  # Small PNGs for isoImage.splashImage (16x12, blue) and isoImage.efiSplashImage (16x12, green).
  pngFromHex = name: hex: runBusybox name { inherit hex; } ''
    printf '%s' "$hex" | xxd -r -p > $out
  '';
  splashImage = pngFromHex "gonixiso-test-splash.png"
    "89504e470d0a1a0a0000000d49484452000000100000000c0802000000e485aad6000001564944415478da15d12111052118456122200880446e000411fe080802ac446e0004114e0404019048022088b011debeebbf993b7394526885555c8aa0104554dc8a475115289a622896e2285e8552066db086cb100c628886dbf018aa0143330cc3321cc36b3ee0d00eebb81cc1218ee8b81d8fa33a7034c7702cc771bcee031eedb19ecb133ce2899edbf378aa074ff30ccff21ccfeb3f2068c10a97100411a2700b8f500584260c61094778e503099db0892b11129288893bf1246a82444b8cc44a9cc49b3e90d1199bb93221239998b9334fa666c8b4ccc8acccc9bcf903055db085ab100a528885bbf0146a81422b8cc22a9cc25b3e001a2c5c10fe9f8970c30395ff1a0c5870e0fdc2a88eeed8ced5091de9c4cedd793ab543a7754667754ee7ed1f98e8899d5c933091499cdc936752274cda644cd6e44cdef9818dded8cdb5091bd9c4cdbd793675c3a66dc6666dcee6ddfc00ad0224901f8cb6fa0000000049454e44ae426082";
  efiSplashImage = pngFromHex "gonixiso-test-efi-splash.png"
    "89504e470d0a1a0a0000000d49484452000000100000000c0802000000e485aad6000001584944415478da0dd12119c020144561224c100079e4022016e145401000895c0004115e840902209104402c0211367f7e71bf6b3086c3e00ca7e13288211892e13654831a1e43374cc36bd87f6d2c87c5594ecb65114bb024cb6da916b53c966e9996d7b2ed0fe00007275c201020c10d15141ee830e185fde7c673789ce7f45c1ef1044ff2dc9eea51cfe3e99ee9793ddbff403804279cc22588108424dc42155478842e4ce115f63fd1448e888b9c912b22911049913b52231a79223d32236f64c71f648e8ccb9c992b23999049993b53339a79323d33336f66e71f148e822b9c85ab2085504885bb500b5a780abd300b6f61971f2887e29453b914518292945ba98a2a8fd295a9bccafe7f318da3e11a67e36a48233452e36ed486369e466fccc6dbd8ed078363e006e7e01ac8200cd2e01ed4810e9e411fccc13bd8e3078b63e116e7e25ac8222cd2e25ed4852e9e455fccc5bbd8eb033479ca81ea1939fe0000000049454e44ae426082";

  # A GRUB theme as isoImage.grubTheme takes one: theme.txt and a font (GRUB's unicode.pf2, in a
  # subfolder, so that the loadfont lines carry a path relative to the theme).
  grubTheme = runBusybox "gonixiso-test-grub-theme" { } ''
    mkdir -p $out/fonts
    cp ${host}/grub/share/grub/unicode.pf2 $out/fonts/unicode.pf2
    cat > $out/theme.txt <<'THEME'
    title-text: "gonixiso test theme"
    title-font: "Unifont Regular 16"
    title-color: "#ffffff"
    desktop-color: "#203040"
    + boot_menu {
      left = 10%
      top = 20%
      width = 80%
      height = 60%
      item_font = "Unifont Regular 16"
      item_color = "#c0c0c0"
      selected_item_color = "#ffffff"
    }
    THEME
  '';

  # isoImage.contents for the test: a file with known bytes (ISO path /gonixiso/hello.txt) and
  # a folder (ISO path /gonixiso/tree).
  isoContentsFile = runBusybox "gonixiso-test-contents.txt" { } ''
    printf 'gonixiso isoImage.contents test\n' > $out
  '';
  isoContentsTree = runBusybox "gonixiso-test-contents-tree" { } ''
    mkdir -p $out/sub
    printf 'one\n' > $out/one.txt
    printf 'two\n' > $out/sub/two.txt
  '';

  # For isoImage.storeContents: a store path no toplevel refers to.
  extraStorePath = runBusybox "gonixiso-test-extra-store-path" { } ''
    mkdir -p $out/share
    printf 'carried by isoImage.storeContents\n' > $out/share/extra.txt
  '';
in
{
  inherit runBusybox busybox kernel initrd syslinux grub2_efi payload nixosSystem;
  inherit writeText memtest86plus splashImage efiSplashImage grubTheme isoContentsFile isoContentsTree
    extraStorePath hostGonixiso;
}

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
  grub2_efi = runBusybox "grub-efi-debian" { } ''
    cp -r ${host}/grub $out
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
      mkToplevel = { configName, kernelParams, specs }:
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
            } ''
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
          '';
        in
        drv // { bootspec = bootspecOf drv.outPath; };

      specToplevels = builtins.mapAttrs
        (name: s: mkToplevel {
          configName = name;
          kernelParams = baseParams ++ s.kernelParams;
          specs = { };
        })
        specialisations;
      toplevel = mkToplevel { configName = "main"; kernelParams = baseParams; specs = specToplevels; };
    in
    {
      config = {
        inherit volumeID;
        system.build.toplevel = toplevel;
        specialisation = builtins.mapAttrs (_: t: { configuration.system.build.toplevel = t; }) specToplevels;
      };
    };
in
{ inherit runBusybox busybox kernel initrd syslinux grub2_efi payload nixosSystem; }

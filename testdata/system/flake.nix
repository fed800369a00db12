# A NixOS-shaped test system for gonixiso, built by real Nix with no remote inputs and no nixpkgs.
#
# Its toplevel has the shape of a NixOS live system's `config.system.build.toplevel`: kernel,
# initrd, init, kernel-params, nixos-version, boot.json (bootspec v1 with a specialisation),
# specialisation/<name>, sw, etc and extra-dependencies; its closure holds syslinux and grub2_efi
# store paths as an installer's does. Every store path is built from Debian's files, which
# scripts/setup lays out in a cache folder and nix.conf exposes to sandboxed builds as
# /gonixiso-host.
#
# The initrd follows NixOS's live-ISO contract (root=LABEL=<volume id>, /iso,
# /iso/nix-store.squashfs, /nix/.ro-store, /nix/.rw-store, an overlay at /nix/store); stage 2
# checks the booted store and prints a marker naming its configuration. See README.md.
#
# Each configuration also has config.system.build.gonixiso, its ISO spec (docs/spec.md), written
# by the same function as nix/module.nix writes a NixOS configuration's (nix/spec.nix):
# gonixiso-test with nixpkgs' defaults, gonixiso-test-custom with every option the spec holds set
# to something else (and a second specialisation, hidden from the menus).
{
  description = "gonixiso test system";

  outputs = { self }:
    let
      system = "x86_64-linux";
      lib = import ./lib.nix { inherit system; };
      testSystem = lib.nixosSystem {
        hostName = "gonixiso-test";
        volumeID = "gonixiso-test-x86_64";
        specialisations = {
          alt = { kernelParams = [ "gonixiso.specialisation=alt" ]; };
        };
      };
      # Every option of the spec away from its default. Its toplevel differs from gonixiso-test's
      # (another host name and volume id, a second specialisation); its store paths are the same
      # otherwise.
      customSystem = lib.nixosSystem {
        hostName = "gonixiso-custom";
        volumeID = "gonixiso-custom-x86_64";
        specialisations = {
          alt = {
            kernelParams = [ "gonixiso.specialisation=alt" ];
            isoImage = {
              configurationName = "(Alternative)";
              appendToMenuLabel = " Live alt";
            };
          };
          hidden = {
            kernelParams = [ "gonixiso.specialisation=hidden" ];
            isoImage.showConfiguration = false;
          };
        };
        iso = {
          isoImage = {
            edition = "custom";
            squashfsCompression = "xz -Xdict-size 100% -Xbcj x86";
            makeBiosBootable = false;
            prependToMenuLabel = "Try ";
            appendToMenuLabel = " Live";
            configurationName = "(Custom)";
            forceTextMode = true;
            inherit (lib) splashImage efiSplashImage grubTheme;
            syslinuxTheme = "MENU TITLE gonixiso custom\n";
            contents = [
              { source = lib.isoContentsFile; target = "/gonixiso/hello.txt"; }
              { source = lib.isoContentsTree; target = "/gonixiso/tree"; }
            ];
            storeContents = [ lib.extraStorePath ];
            compressImage = true;
          };
          image = {
            baseName = "gonixiso-custom";
            fileName = "gonixiso-custom-test.iso.zst";
          };
          boot.loader = {
            timeout = 3;
            grub.memtest86 = { enable = true; params = [ "console=ttyS0,115200" ]; };
          };
        };
      };
      # The ISO as a derivation (nix/image.nix, as the module's system.build.gonixisoImage makes
      # it): gonixiso, a store path with bin/gonixiso, builds the configuration's spec in the
      # sandbox. The tests pass a gonixiso built from the checkout they test; the packages below
      # take the one scripts/setup builds into the host folder, which is impure like the kernel.
      isoImage = { gonixiso, configuration ? testSystem }:
        import ../../nix/image.nix {
          inherit gonixiso system;
          spec = configuration.config.system.build.gonixiso;
        };
      # The same ISO from a segment derivation per store path (nix/image-incremental.nix, the
      # module's system.build.gonixisoImageIncremental): needs import from derivation.
      isoImageIncremental = { gonixiso, configuration ? testSystem }:
        import ../../nix/image-incremental.nix {
          inherit gonixiso system;
          spec = configuration.config.system.build.gonixiso;
        };
      # The test system but for its toplevel, which has a note: one store path changed.
      noteSystem = lib.nixosSystem {
        hostName = "gonixiso-test";
        volumeID = "gonixiso-test-x86_64";
        specialisations = {
          alt = { kernelParams = [ "gonixiso.specialisation=alt" ]; };
        };
        note = "one store path changed";
      };
    in
    {
      nixosConfigurations.gonixiso-test = testSystem;
      nixosConfigurations.gonixiso-test-custom = customSystem;
      nixosConfigurations.gonixiso-test-note = noteSystem;
      packages.${system} = {
        default = testSystem.config.system.build.toplevel;
        iso = isoImage { gonixiso = lib.hostGonixiso; };
        iso-incremental = isoImageIncremental { gonixiso = lib.hostGonixiso; };
        inherit (lib) busybox kernel initrd syslinux grub2_efi payload;
      };
      lib.isoImage = isoImage;
      lib.isoImageIncremental = isoImageIncremental;
      # nix/module.nix evaluated against mocks of nixpkgs (module-mock.nix); internal/nixcheck
      # requires every check to be true.
      lib.moduleChecks = (import ./module-mock.nix {
        inherit system;
        testLib = lib;
        configurations = { gonixiso-test = testSystem; gonixiso-test-custom = customSystem; };
      }).checks;
      # Facts the Go tests read with `nix eval --json`.
      lib.testFacts = {
        inherit (testSystem.config) volumeID;
        specialisations = builtins.attrNames testSystem.config.specialisation;
        custom = {
          inherit (customSystem.config) volumeID;
          specialisations = builtins.attrNames customSystem.config.specialisation;
        };
      };
    };
}

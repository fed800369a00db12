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
    in
    {
      nixosConfigurations.gonixiso-test = testSystem;
      packages.${system} = {
        default = testSystem.config.system.build.toplevel;
        inherit (lib) busybox kernel initrd syslinux grub2_efi payload;
      };
      # Facts the Go tests read with `nix eval --json`.
      lib.testFacts = {
        inherit (testSystem.config) volumeID;
        specialisations = builtins.attrNames testSystem.config.specialisation;
      };
    };
}

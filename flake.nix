# gonixiso: bootable NixOS ISO images, assembled natively (README.md).
#
#   inputs.gonixiso.url = "github:gonixiso/gonixiso";
#   nixosConfigurations.installer = nixpkgs.lib.nixosSystem {
#     modules = [
#       "${nixpkgs}/nixos/modules/installer/cd-dvd/installation-cd-minimal.nix"
#       gonixiso.nixosModules.default
#     ];
#   };
#   nix run github:gonixiso/gonixiso -- build --flake .#installer
#
# Outputs: nixosModules.default (nix/module.nix: nixpkgs' iso-image.nix and
# config.system.build.gonixiso, the ISO spec of docs/spec.md), lib.mkSpec (nix/spec.nix, the spec
# writer: lib.mkSpec { inherit (pkgs) writeText; } { ... }), packages, apps, overlays.default,
# devShells.default and checks.
#
# What was checked where this was written (no network, no nixpkgs): every .nix file parses
# (internal/nixcheck), nix/spec.nix, nix/image.nix and nix/module.nix are evaluated by the test
# system (testdata/system) with real Nix, and nix/package.nix's vendorHash is checked against the
# vendored modules' NAR hash; the packages, the dev shell, the checks and the module against real
# nixpkgs are not built. There is no flake.lock: the first `nix build` writes one.
{
  description = "gonixiso: bootable NixOS ISO images, assembled natively";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      # The machines gonixiso runs on. The images it makes are x86_64-linux only.
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      version = "0-${self.shortRev or "dirty"}";
      gonixisoFor = pkgs: pkgs.callPackage ./nix/package.nix { inherit version; };
    in
    {
      # The module, with this flake's gonixiso as the package its derivations run
      # (system.build.gonixisoImage).
      nixosModules.default = { pkgs, lib, ... }: {
        imports = [ ./nix/module.nix ];
        gonixiso.package = lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.default;
      };
      nixosModules.gonixiso = self.nixosModules.default;

      lib.mkSpec = import ./nix/spec.nix;

      overlays.default = final: prev: { gonixiso = gonixisoFor final; };

      packages = forSystems (pkgs: rec {
        gonixiso = gonixisoFor pkgs;
        default = gonixiso;
      });

      apps = forSystems (pkgs: {
        default = {
          type = "app";
          program = lib.getExe self.packages.${pkgs.stdenv.hostPlatform.system}.gonixiso;
        };
      });

      devShells = forSystems (pkgs: {
        default = pkgs.mkShell {
          # Go and the C libraries, then what the tests and benchmarks run (scripts/setup installs
          # the same from Debian).
          packages = with pkgs; [
            (pkgs.go_1_26 or go)
            pkg-config
            zstd
            xz
            squashfsTools
            xorriso
            syslinux
            grub2_efi
            mtools
            dosfstools
            libfaketime
            qemu
            OVMF
            jq
            hyperfine
          ];
        };
      });

      # The package builds, and the unit tests that need nothing but Go and the tools below run.
      # The rest of the suite needs a Nix store of its own, the test system and QEMU, which a
      # sandboxed build has not: scripts/test runs it.
      checks = forSystems (pkgs: {
        gonixiso = self.packages.${pkgs.stdenv.hostPlatform.system}.gonixiso;
        unit = self.packages.${pkgs.stdenv.hostPlatform.system}.gonixiso.overrideAttrs (old: {
          pname = "gonixiso-unit-tests";
          doCheck = true;
          nativeCheckInputs = [ pkgs.zstd ];
          checkPhase = ''
            runHook preCheck
            go test -short ./cache ./internal/parallel ./internal/fuzzrecipe ./internal/atomicfile ./internal/zstdfile
            runHook postCheck
          '';
        });
      });
    };
}

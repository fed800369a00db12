# The ISO spec of a NixOS configuration, whether or not it imports gonixiso's module: for
# `gonixiso build --flake .#x` (issue 12), which can then always build one attribute:
#
#   nix build --impure --expr 'import /path/to/gonixiso/nix/from-configuration.nix {
#     nixos = (builtins.getFlake "/path/to/flake").nixosConfigurations.x; }'
#
# - With gonixiso's module: its config.system.build.gonixiso.
# - With nixpkgs' iso-image.nix but not the module: the configuration extended with the module
#   (nixosSystem's extendModules), whose spec is the same as if the user had imported it. The
#   module declares an option and defines system.build.gonixiso and warnings, none of which the
#   toplevel is built from, so the toplevel is the configuration's own.
# - With neither: an error that shows the lines to add. Extending such a configuration with the
#   module would import iso-image.nix and make another system than the user's.
{ nixos }:

let
  build = nixos.config.system.build;
  hasIsoImage = nixos.options ? isoImage && nixos.options.isoImage ? volumeID;
in
if build ? gonixiso then build.gonixiso
else if !hasIsoImage then
  throw ''
    gonixiso: this configuration does not import nixpkgs' iso-image.nix, so its system cannot boot
    from an ISO (no live file systems, no root=LABEL=). Add to its modules:

      "''${nixpkgs}/nixos/modules/installer/cd-dvd/installation-cd-minimal.nix"  # or iso-image.nix itself
      gonixiso.nixosModules.default
  ''
else (nixos.extendModules { modules = [ ./module.nix ]; }).config.system.build.gonixiso

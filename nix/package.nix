# gonixiso as a nixpkgs package: buildGoModule with cgo, libzstd and liblzma (squash/compress_cgo.go
# asks pkg-config for them), the version stamped into main.version.
#
# Not built where it was written: nixpkgs cannot be fetched there. It is parse-checked
# (internal/nixcheck), and vendorHash is checked against the NAR hash of what `go mod vendor`
# writes (buildGoModule's goModules output), made from the module cache: update it when go.mod
# or go.sum change (the test says the new value).
{ lib
, buildGoModule
, pkg-config
, zstd
, xz
, go_1_26 ? null # gonixiso needs Go 1.26 (go.mod); older nixpkgs fall back to their default Go and fail clearly
, version ? "unstable"
}:

let
  buildGo = if go_1_26 != null then buildGoModule.override { go = go_1_26; } else buildGoModule;
in
buildGo {
  pname = "gonixiso";
  inherit version;

  src = lib.cleanSourceWith {
    src = ../.;
    # The Go sources and what `go build` reads; not the test system, the corpus or the scripts.
    filter = path: type:
      let rel = lib.removePrefix (toString ../. + "/") (toString path); in
      !(lib.hasPrefix "testdata" rel || lib.hasPrefix "scripts" rel || lib.hasPrefix ".ci" rel
        || lib.hasSuffix ".nix" rel || rel == "flake.lock" || lib.hasPrefix "result" rel);
  };

  vendorHash = "sha256-Y7zOUO2WpKyl6vmgBA5lSRb2MZ9szN4PhibC6W0BFwg=";

  subPackages = [ "cmd/gonixiso" ];

  nativeBuildInputs = [ pkg-config ];
  buildInputs = [ zstd xz ];
  env.CGO_ENABLED = "1";

  ldflags = [ "-s" "-w" "-X main.version=${version}" ];

  # The tests need real Nix, the test system and QEMU (scripts/test); the sandbox has none.
  doCheck = false;

  meta = {
    description = "Assembles bootable NixOS ISO images natively, in Go";
    mainProgram = "gonixiso";
    platforms = lib.platforms.linux;
  };
}

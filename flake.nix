{
  # First draft: a development shell with the pinned toolchain and tools. Packages for the Worker
  # and web client (crane), checks and deploy arrive with the Nix/deploy issue.
  description = "edge-chat: serverless real-time chat in Rust on Cloudflare Workers";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    flake-utils.url = "github:numtide/flake-utils";
    rust-overlay = {
      url = "github:oxalica/rust-overlay";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    crane.url = "github:ipetkov/crane";
  };

  outputs = { self, nixpkgs, flake-utils, rust-overlay, crane }:
    flake-utils.lib.eachDefaultSystem (system:
      let
        pkgs = import nixpkgs {
          inherit system;
          overlays = [ (import rust-overlay) ];
        };
        # The same toolchain (channel, components, wasm32 target) as rust-toolchain.toml.
        rustToolchain = pkgs.rust-bin.fromRustupToolchainFile ./rust-toolchain.toml;
        craneLib = (crane.mkLib pkgs).overrideToolchain (_: rustToolchain);
      in
      {
        devShells.default = craneLib.devShell {
          packages = [
            pkgs.just
            pkgs.redis
            pkgs.nodejs_20
            # Must equal Cargo.lock's wasm-bindgen (0.2.130); nixpkgs may carry another version,
            # which the Nix issue pins exactly.
            pkgs.wasm-bindgen-cli
            pkgs.chromium
            pkgs.chromedriver
          ];
          shellHook = ''
            echo "edge-chat dev shell: just dev | just test | just deploy"
          '';
        };
      });
}

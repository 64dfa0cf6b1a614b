{
  # edge-chat's reproducible toolchain and builds. Versions come from nix/versions.nix, which
  # `just test` checks against Cargo.lock, package(-lock).json, rust-toolchain.toml and the
  # justfile (nix/check-versions.nix), so the flake cannot drift from what the repo pins.
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
        lib = pkgs.lib;
        versions = import ./nix/versions.nix;

        # The toolchain of rust-toolchain.toml: channel, rustfmt, clippy, wasm32 target.
        rustToolchain = pkgs.rust-bin.fromRustupToolchainFile ./rust-toolchain.toml;
        craneLib = (crane.mkLib pkgs).overrideToolchain (_: rustToolchain);

        # The pinned CLIs, built from their published crates (their own Cargo.lock) by crane.
        crateFromRegistry = name: version: checksum:
          craneLib.downloadCargoPackage {
            inherit name version checksum;
            source = "registry+https://github.com/rust-lang/crates.io-index";
          };
        wasm-bindgen-cli = craneLib.buildPackage {
          pname = "wasm-bindgen-cli";
          version = versions.wasmBindgen;
          src = crateFromRegistry "wasm-bindgen-cli" versions.wasmBindgen versions.wasmBindgenCliChecksum;
          doCheck = false;
          nativeBuildInputs = [ pkgs.pkg-config ];
          buildInputs = [ pkgs.openssl ];
        };
        worker-build = craneLib.buildPackage {
          pname = "worker-build";
          version = versions.workerBuild;
          src = crateFromRegistry "worker-build" versions.workerBuild versions.workerBuildChecksum;
          doCheck = false;
        };

        # Rust sources plus the non-Rust files builds and tests read.
        src = lib.fileset.toSource {
          root = ./.;
          fileset = lib.fileset.unions [
            (craneLib.fileset.commonCargoSources ./.)
            ./apps/web/static
            ./testing/e2e/sdk
            # The room's tests check the README's table of Worker variables.
            ./README.md
            ./rust-toolchain.toml
            ./clippy.toml
          ];
        };
        commonArgs = {
          inherit src;
          pname = "edge-chat";
          version = "0.1.0";
          strictDeps = true;
        };

        # Native crates (tests, clippy, redis-rest); wasm32 artifacts are cached separately.
        nativeArgs = commonArgs // {
          cargoExtraArgs = "--workspace --exclude web";
        };
        nativeArtifacts = craneLib.buildDepsOnly nativeArgs;
        wasmArgs = commonArgs // {
          CARGO_BUILD_TARGET = "wasm32-unknown-unknown";
          doCheck = false;
        };

        web = craneLib.buildPackage (wasmArgs // {
          pname = "edge-chat-web";
          cargoExtraArgs = "-p web --bin web";
          CARGO_PROFILE = "web-release";
          cargoArtifacts = craneLib.buildDepsOnly (wasmArgs // {
            pname = "edge-chat-web";
            cargoExtraArgs = "-p web --bin web";
            CARGO_PROFILE = "web-release";
          });
          nativeBuildInputs = [ wasm-bindgen-cli pkgs.binaryen ];
          installPhaseCommand = ''
            mkdir -p $out/pkg
            wasm-bindgen --target web --no-typescript --out-dir $out/pkg --out-name web \
              target/wasm32-unknown-unknown/web-release/web.wasm
            wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
              $out/pkg/web_bg.wasm -o $out/pkg/web_bg.wasm
            cp apps/web/static/* $out/
          '';
        });

        worker = craneLib.mkCargoDerivation (wasmArgs // {
          pname = "edge-chat-worker";
          cargoArtifacts = craneLib.buildDepsOnly (wasmArgs // {
            pname = "edge-chat-worker";
            cargoExtraArgs = "-p chat-worker";
          });
          nativeBuildInputs = [ worker-build wasm-bindgen-cli pkgs.binaryen pkgs.esbuild ];
          # worker-build would download these; point it at the pinned ones instead.
          WASM_BINDGEN_BIN = "${wasm-bindgen-cli}/bin/wasm-bindgen";
          WASM_OPT_BIN = "${pkgs.binaryen}/bin/wasm-opt";
          ESBUILD_BIN = "${pkgs.esbuild}/bin/esbuild";
          buildPhaseCargoCommand = "(cd apps/chat-worker && worker-build --release)";
          installPhaseCommand = "cp -r apps/chat-worker/build $out";
        });
      in
      {
        packages = {
          inherit web worker wasm-bindgen-cli worker-build;
          default = worker;
        };

        checks = {
          fmt = craneLib.cargoFmt { inherit src; pname = "edge-chat"; version = "0.1.0"; };
          clippy = craneLib.cargoClippy (nativeArgs // {
            cargoArtifacts = nativeArtifacts;
            cargoClippyExtraArgs = "--all-targets -- -D warnings";
          });
          # Unit and room/protocol/client tests; the service-backed suites run under `just test`.
          tests = craneLib.cargoTest (nativeArgs // {
            cargoArtifacts = nativeArtifacts;
            cargoTestExtraArgs = "-p protocol -p room -p client -p upstash --lib";
          });
          versions = pkgs.runCommand "edge-chat-versions" { } ''
            ${pkgs.nix}/bin/nix-instantiate --eval --strict ${./nix/check-versions.nix} > $out
          '';
        };

        apps.deploy = {
          type = "app";
          program = toString (pkgs.writeShellScript "edge-chat-deploy" ''
            exec ${pkgs.just}/bin/just deploy "$@"
          '');
        };

        devShells.default = craneLib.devShell {
          checks = self.checks.${system};
          packages = [
            pkgs.just
            pkgs.redis
            pkgs.nodejs_20
            pkgs.chromium
            pkgs.chromedriver
            pkgs.nix
            wasm-bindgen-cli
            worker-build
          ];
          shellHook = ''
            echo "edge-chat dev shell (Rust ${versions.rust}, wasm-bindgen ${versions.wasmBindgen}, worker-build ${versions.workerBuild})"
            echo "  just dev     run the whole stack locally and print its URL"
            echo "  just test    everything CI runs"
            echo "  just deploy  build and deploy to Cloudflare (see README, Deploy)"
          '';
        };
      });
}

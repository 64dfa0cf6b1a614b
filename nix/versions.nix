# Every tool version the project pins, in one place. flake.nix builds its shell from these, and
# nix/check-versions.nix (run by `just test`) fails if any differs from Cargo.lock,
# package.json, package-lock.json, rust-toolchain.toml or the justfile.
{
  rust = "1.95.0";
  wasmBindgen = "0.2.130";
  workerBuild = "0.8.7";
  worker = "0.8.7";
  # Leptos's reactive graph and DOM helpers, which the web client is built on.
  reactiveGraph = "0.2.16";
  leptosDom = "0.8.8";
  wrangler = "4.86.0";
  miniflare = "4.20260426.0";
  binaryen = "132.0.0";
  upstashRedis = "1.39.0";
  # The accessibility engine the browser tests run on each page they check.
  axeCore = "4.14.1";
  nodejs = "20";
  # sha256 of the published .crate files (the registry index's `cksum`), for crane to fetch the
  # pinned CLIs without a fixed-output hash of their own.
  wasmBindgenCliChecksum = "c37f6904387d19a319525c74af274c73912f3871c35555aa49f3ea64ebb2fc7a";
  workerBuildChecksum = "1051c05ef088889a30ad3bad40c22a716ba8ca8d02a3fb01cef8c143ba952222";
}

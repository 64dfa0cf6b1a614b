# `nix-instantiate --eval --strict nix/check-versions.nix`: "ok: N pins match", or an error
# naming each pin that differs from the file that really decides the version.
let
  pins = import ./versions.nix;
  read = path: builtins.readFile path;
  lock = builtins.fromTOML (read ../Cargo.lock);
  lockVersion = name:
    let found = builtins.filter (p: p.name == name) lock.package;
    in if found == [ ] then "missing from Cargo.lock" else (builtins.head found).version;
  packageJson = builtins.fromJSON (read ../package.json);
  packageLock = builtins.fromJSON (read ../package-lock.json);
  locked = name: packageLock.packages."node_modules/${name}".version or "missing from package-lock.json";
  toolchain = (builtins.fromTOML (read ../rust-toolchain.toml)).toolchain;
  # The value of `name := "…"` in the justfile.
  justVar = name:
    let after = builtins.elemAt (builtins.split "${name} := \"" (read ../justfile)) 2;
    in builtins.head (builtins.split "\"" after);
  checks = [
    { what = "rust-toolchain.toml channel"; pinned = pins.rust; actual = toolchain.channel; }
    { what = "Cargo.lock wasm-bindgen"; pinned = pins.wasmBindgen; actual = lockVersion "wasm-bindgen"; }
    { what = "Cargo.lock worker"; pinned = pins.worker; actual = lockVersion "worker"; }
    { what = "Cargo.lock reactive_graph"; pinned = pins.reactiveGraph; actual = lockVersion "reactive_graph"; }
    { what = "Cargo.lock leptos_dom"; pinned = pins.leptosDom; actual = lockVersion "leptos_dom"; }
    { what = "justfile wasm_bindgen_version"; pinned = pins.wasmBindgen; actual = justVar "wasm_bindgen_version"; }
    { what = "justfile worker_build_version"; pinned = pins.workerBuild; actual = justVar "worker_build_version"; }
    { what = "package.json wrangler"; pinned = pins.wrangler; actual = packageJson.devDependencies.wrangler; }
    { what = "package-lock.json wrangler"; pinned = pins.wrangler; actual = locked "wrangler"; }
    { what = "package.json miniflare"; pinned = pins.miniflare; actual = packageJson.devDependencies.miniflare; }
    { what = "package-lock.json miniflare"; pinned = pins.miniflare; actual = locked "miniflare"; }
    { what = "package.json binaryen"; pinned = pins.binaryen; actual = packageJson.devDependencies.binaryen; }
    { what = "package-lock.json binaryen"; pinned = pins.binaryen; actual = locked "binaryen"; }
    { what = "package.json @upstash/redis"; pinned = pins.upstashRedis; actual = packageJson.devDependencies."@upstash/redis"; }
    { what = "package.json axe-core"; pinned = pins.axeCore; actual = packageJson.devDependencies."axe-core"; }
    { what = "package-lock.json axe-core"; pinned = pins.axeCore; actual = locked "axe-core"; }
  ];
  failures = builtins.filter (c: c.pinned != c.actual) checks;
  describe = c: "${c.what} is ${c.actual}, nix/versions.nix pins ${c.pinned}";
in
if failures == [ ]
then "ok: ${toString (builtins.length checks)} pins match"
else throw (builtins.concatStringsSep "; " (map describe failures))

//! `cargo xtask`: everything between a fresh clone and a running Percept.
//!
//! Every step checks whether its result is already there and skips itself if
//! so, which keeps second runs fast. Heavy downloads go to the user's cache
//! directory (`$XDG_CACHE_HOME/percept` or `~/.cache/percept`), checked by
//! hash, so every clone on a machine shares them.

mod build;
mod bundle_bench;
mod cache;
mod fuzz;
mod generation_bench;
mod load_bench;
mod process;
mod setup;
mod suite;

use std::process::ExitCode;

const HELP: &str = "\
cargo xtask <command>

  demo [SERVE ARGS]   set up what is missing, build, and run the app with its demo
                      on the private database (extra args go to `percept serve`)
  test [CARGO ARGS]   set up what is missing, build, and run the whole test suite
                      (extra args go to `cargo test`)
  fuzz [--runs N]     fuzz the parsers (cargo fuzz, N inputs per target, default
                      200000) and the HTTP API (schemathesis); print inputs tried
  setup               only install what is missing (system packages, wasm
                      toolchain, Python/libtorch, weights and datasets)
  build               only build the wasm bundle and the percept binary
  bench-load          measure judgments acknowledged per second and their latency
                      (release server, private PostgreSQL, wrk on loopback)
  bench-bundle        measure what a worker on a throttled phone downloads and waits
                      for until the first trial answers (headless Chromium), for
                      the built bundle against the unoptimised, uncompressed one
  bench-generation [--patches-per-image N]
                      measure stimuli generated per second end to end (four demo
                      photos × N patches, default 1000) beside the kernels' rate
                      on one thread, with the time split by stage
  env                 print the environment the percept binary needs, as shell
                      exports (eval \"$(cargo xtask env)\")
";

/// The repository root, where Cargo.toml, `static/` and `python/` are.
///
/// Read at run time (`cargo run` sets it): a binary built in another checkout
/// sharing this target directory must not point back at that checkout.
pub fn workspace_root() -> std::path::PathBuf {
    let xtask_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    xtask_dir.join("..")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => build::demo(&args[1..]),
        Some("test") => suite::run_test_suite(&args[1..]),
        Some("fuzz") => fuzz::run_fuzzers(&args[1..]),
        Some("setup") => setup::everything(setup::Purpose::Test),
        Some("build") => setup::everything(setup::Purpose::Demo).and_then(|_| build::all()),
        Some("bench-load") => load_bench::run_bench(),
        Some("bench-bundle") => bundle_bench::run_bench(),
        Some("bench-generation") => generation_bench::run_bench(&args[1..]),
        Some("env") => cache::Cache::locate()
            .and_then(|cache| cache.runtime_env())
            .map(|env| {
                for (name, value) in env {
                    println!("export {name}='{value}'");
                }
                // So the README's `percept …` commands find this clone's build.
                println!(
                    "export PATH='{}':\"$PATH\"",
                    build::target_dir().join("debug").display()
                );
            }),
        Some("help" | "--help" | "-h") | None => {
            print!("{HELP}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

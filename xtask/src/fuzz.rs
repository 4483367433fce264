//! `cargo xtask fuzz [--runs N]`: every cargo-fuzz target of `fuzz/` for N
//! inputs each, then schemathesis over the whole HTTP API with more examples
//! than the test suite's run; prints how many inputs each one tried.

use std::process::Command;

use crate::{
    build::cargo,
    process::{step, Result},
    setup::{self, cargo_tool},
    suite::TestDatabase,
    workspace_root,
};

/// The version whose `-s none` build works on stable Rust with RUSTC_BOOTSTRAP.
const CARGO_FUZZ_VERSION: &str = "0.13.2";
const TARGETS: [&str; 4] = [
    "pipeline_json",
    "reference_image",
    "npy_share",
    "api_bodies",
];
/// A few seconds per target on a shared two-core machine.
const DEFAULT_RUNS: u64 = 200_000;
/// Schemathesis test cases per operation and phase (the suite uses 5).
const API_EXAMPLES: u32 = 50;

pub fn run_fuzzers(args: &[String]) -> Result {
    let runs = match args {
        [] => DEFAULT_RUNS,
        [flag, runs] if flag == "--runs" => runs
            .parse()
            .map_err(|_| format!("--runs takes a number, not `{runs}`"))?,
        _ => return Err("usage: cargo xtask fuzz [--runs N]".into()),
    };
    setup::everything(setup::Purpose::Test)?;
    cargo_tool(
        "cargo-fuzz",
        CARGO_FUZZ_VERSION,
        &["cargo", "fuzz", "--version"],
        &[],
    )?;
    for target in TARGETS {
        let inputs = fuzz_target(target, runs)?;
        println!("  {target}: {inputs} inputs tried, no failure");
    }
    let api_cases = fuzz_api()?;
    println!("  HTTP API: {api_cases} schemathesis test cases, no failure");
    Ok(())
}

/// Runs one target for `runs` inputs; returns how many libFuzzer says it ran.
fn fuzz_target(target: &str, runs: u64) -> Result<u64> {
    step(&format!("cargo fuzz run {target} ({runs} inputs)"), false);
    let fuzz_dir = workspace_root().join("fuzz");
    let corpus = fuzz_dir.join("corpus").join(target);
    std::fs::create_dir_all(&corpus)
        .map_err(|error| format!("cannot create {}: {error}", corpus.display()))?;
    let mut command = Command::new("cargo");
    command
        .current_dir(&fuzz_dir)
        // cargo-fuzz passes nightly flags (-Z, --cfg fuzzing, sanitizer
        // coverage); without a sanitizer (-s none) stable rustc builds them
        // when told to accept unstable flags, so no nightly toolchain is needed.
        .env("RUSTC_BOOTSTRAP", "1")
        // New inputs go to the (ignored) corpus/; the committed seeds/ start
        // each target from valid inputs, which random bytes rarely reach.
        .args(["fuzz", "run", "--sanitizer", "none", target])
        .arg(&corpus)
        .arg(format!("seeds/{target}"))
        .arg("--")
        .arg(format!("-runs={runs}"));
    let output = command
        .output()
        .map_err(|error| format!("cannot start cargo fuzz: {error}"))?;
    // libFuzzer reports on stderr and ends with "Done N runs in S second(s)".
    let log = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        eprintln!("{log}");
        return Err(format!(
            "fuzz target {target} failed ({}); the crashing input is in fuzz/artifacts/{target}/",
            output.status
        ));
    }
    log.lines()
        .find_map(|line| {
            line.strip_prefix("Done ")?
                .split_once(" runs")?
                .0
                .parse()
                .ok()
        })
        .ok_or(format!("cargo fuzz run {target} printed no run count"))
}

/// The API fuzz test with more examples and a fresh seed, on a private
/// cluster; returns how many test cases schemathesis generated.
fn fuzz_api() -> Result<u64> {
    step(
        &format!("schemathesis over the HTTP API ({API_EXAMPLES} examples per operation)"),
        false,
    );
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let database = TestDatabase::start("test")?;
    let output = cargo()
        .args(["test", "-p", "percept-tests", "--test", "suite", "--"])
        .args([
            "--exact",
            "api_fuzz::no_generated_request_gets_a_server_error_and_rejections_are_json_errors",
        ])
        .arg("--nocapture")
        .env("DATABASE_URL", &database.url)
        .env("PERCEPT_API_FUZZ_EXAMPLES", API_EXAMPLES.to_string())
        .env("PERCEPT_API_FUZZ_SEED", seed.to_string())
        .output()
        .map_err(|error| format!("cannot start cargo test: {error}"));
    database.stop()?;
    let output = output?;
    let log = String::from_utf8_lossy(&output.stdout);
    println!("{log}");
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        return Err(format!("schemathesis found failures (seed {seed}, above)"));
    }
    log.lines()
        .find_map(|line| {
            line.strip_prefix("api_fuzz: schemathesis generated ")?
                .split_once(' ')?
                .0
                .parse()
                .ok()
        })
        .ok_or("the API fuzz test printed no test case count".into())
}

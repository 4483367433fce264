//! `cargo xtask bench-generation`: stimuli generated per second end to end
//! (`percept experiment create`'s path: the generation job storing into
//! PostgreSQL) beside what the kernels make on one thread, with the time
//! split by stage. The measuring program is `core/examples/bench_generation.rs`.

use crate::{
    build::{self, cargo},
    cache::Cache,
    process::{run, step, Result},
    setup,
    suite::TestDatabase,
};

pub fn run_bench(args: &[String]) -> Result {
    let patches_per_image = match args {
        [] => "1000".to_string(),
        [flag, count] if flag == "--patches-per-image" && count.parse::<u32>().is_ok_and(|n| n > 0) => count.clone(),
        _ => {
            return Err(format!(
                "bench-generation takes only `--patches-per-image N` (N a whole number above 0), not `{}`",
                args.join(" ")
            ))
        }
    };
    setup::everything(setup::Purpose::Demo)?;
    build::all()?;
    let database = TestDatabase::start("generation-bench")?;
    step("generation bench", false);
    let result = run(cargo()
        .args([
            "run",
            "--quiet",
            "--package",
            "percept-core",
            "--example",
            "bench_generation",
        ])
        .env("DATABASE_URL", &database.url)
        .env("PERCEPT_DEMO_PHOTOS", Cache::locate()?.demo_photos())
        .env("PERCEPT_BENCH_PATCHES_PER_IMAGE", patches_per_image));
    database.stop()?;
    result
}

//! Lin training, ours against the official trainer, side by side on the same
//! BAPPS-layout data: end-to-end times, the ratio, both models' validation
//! 2AFC scores by the official `score_2afc_dataset`, and our peak RSS.
//!
//! ```text
//! cargo bench -p lpips --bench compare_official_training
//! ```
//!
//! Needs `PERCEPT_VENV` and `PERCEPT_WEIGHTS_DIR` (set by `cargo xtask`), and
//! libtorch on `LD_LIBRARY_PATH`. Environment:
//! - `PERCEPT_BENCH_TRIPLETS` training triplets (default 5000), and
//!   `PERCEPT_BENCH_VALIDATION` validation triplets (default 1000);
//! - `PERCEPT_BENCH_OFFICIAL_EPOCHS` as `E+D` (default `5+5`, the official
//!   schedule): fewer epochs for the official side when a full run is too
//!   long; its time is then also extrapolated to 5+5 (it is linear in the
//!   number of epochs) and both are printed;
//! - `PERCEPT_BENCH_THREADS` threads of both sides (default 2);
//! - `PERCEPT_BENCH_DATA` a folder to keep the generated data in and reuse
//!   on the next run (default: a temporary folder).
//!
//! The data: 64×64 smooth references, each with two distortions (noise,
//! blur, contrast, posterisation), judged by five simulated observers who
//! follow `lpips-alex-nolin` with noise, written as BAPPS' `ref/ p0/ p1/
//! judge/` (PNG and `.npy`). Both trainers read that folder; both times run
//! from process start (Python and libtorch start-up included) to the saved
//! weights. Ours runs in a child process so that its peak RSS is its own.

// The test suite's fixtures: the bench uses the observers, not every helper.
#[path = "../tests/suite/common/mod.rs"]
#[allow(dead_code)]
mod common;

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use image::RgbImage;
use lpips::image_input::load_rgb;
use lpips::training::{
    train, BoxError, JudgedTriplet, Mode, PatchSource, Progress, Settings, StartingWeights,
    TripletSet,
};
use lpips::{DeviceChoice, Net, Scorer, Triplet, Weighting};

fn env_number(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn threads() -> usize {
    env_number("PERCEPT_BENCH_THREADS", 2)
}

/// A float32 `.npy` holding one value, as BAPPS' judge files.
fn npy_scalar(value: f32) -> Vec<u8> {
    let mut header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }".to_owned();
    // Magic (6) + version (2) + length (2) + header, padded to 64 with '\n'.
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(value.to_le_bytes());
    bytes
}

/// The value of a one-value float32 `.npy`.
fn read_npy_scalar(path: &Path) -> f32 {
    let bytes = std::fs::read(path).expect("judge file");
    let header_length = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let data = &bytes[10 + header_length..];
    f32::from_le_bytes(data[..4].try_into().expect("four bytes"))
}

/// Writes `count` judged triplets in BAPPS layout under `root`.
fn write_bapps(root: &Path, seed: u64, count: usize) {
    let mut rng = common::Rng::new(seed);
    let observer = Scorer::new(common::model(Net::Alex, Weighting::ChannelSum));
    for sub in ["ref", "p0", "p1", "judge"] {
        std::fs::create_dir_all(root.join(sub)).expect("create folder");
    }
    for start in (0..count).step_by(500) {
        let (patches, judged) =
            common::observed_triplets(&mut rng, &observer, 500.min(count - start), 0.15);
        for (i, judged) in judged.iter().enumerate() {
            let name = format!("{:06}", start + i);
            for (slot, sub) in ["ref", "p0", "p1"].iter().enumerate() {
                patches[3 * i + slot]
                    .save(root.join(sub).join(format!("{name}.png")))
                    .expect("write patch");
            }
            std::fs::write(
                root.join("judge").join(format!("{name}.npy")),
                npy_scalar(judged.judge),
            )
            .expect("write judge");
        }
    }
}

/// A BAPPS 2AFC folder read lazily: patch 3i, 3i+1, 3i+2 are triplet i's
/// reference, p0 and p1 (files sorted by name, as the official loader).
struct BappsFolder {
    files: Vec<PathBuf>,
}

impl BappsFolder {
    fn open(root: &Path) -> (Self, Vec<JudgedTriplet>) {
        let listing = |sub: &str| {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join(sub))
                .expect("BAPPS folder")
                .map(|e| e.expect("entry").path())
                .collect();
            paths.sort();
            paths
        };
        let (refs, p0s, p1s, judges) = (
            listing("ref"),
            listing("p0"),
            listing("p1"),
            listing("judge"),
        );
        let mut files = Vec::new();
        let mut triplets = Vec::new();
        for (i, judge) in judges.iter().enumerate() {
            files.extend([refs[i].clone(), p0s[i].clone(), p1s[i].clone()]);
            triplets.push(JudgedTriplet {
                triplet: Triplet {
                    reference: 3 * i,
                    p0: 3 * i + 1,
                    p1: 3 * i + 2,
                },
                judge: read_npy_scalar(judge),
            });
        }
        (Self { files }, triplets)
    }
}

impl PatchSource for BappsFolder {
    fn patch_count(&self) -> usize {
        self.files.len()
    }

    fn patch(&self, index: usize) -> Result<Cow<'_, RgbImage>, BoxError> {
        Ok(Cow::Owned(load_rgb(&self.files[index])?))
    }
}

fn python(args: &[&std::ffi::OsStr]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/lpips_official_training.py");
    let venv = std::env::var_os("PERCEPT_VENV").expect("PERCEPT_VENV: run through cargo xtask");
    let output = Command::new(PathBuf::from(venv).join("bin/python"))
        .arg(script)
        .args(args)
        .output()
        .expect("run the official trainer");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Child process: our lin training on the BAPPS folder `root`, weights to
/// `out`; prints the training record's numbers and the peak RSS.
fn ours_child(root: &Path, out: &Path) {
    let started = Instant::now();
    let (folder, triplets) = BappsFolder::open(root);
    let settings = Settings {
        threads: Some(threads()),
        device: DeviceChoice::Cpu,
        ..Settings::new(Net::Alex, Mode::Lin)
    };
    let pretrained = PathBuf::from(std::env::var_os("PERCEPT_WEIGHTS_DIR").expect("weights"))
        .join("alex.safetensors");
    let start = StartingWeights::official(Net::Alex, Mode::Lin, Some(&pretrained), 0)
        .expect("starting weights");
    let trained = train(
        &settings,
        start,
        TripletSet::new(&folder, &triplets),
        None,
        &mut |progress| {
            if let Progress::Epoch(epoch) = progress {
                eprintln!(
                    "ours: epoch {} loss {:.4} train 2AFC {:.4}",
                    epoch.epoch, epoch.loss, epoch.train_2afc
                );
            }
        },
    )
    .expect("training");
    trained.metric.save(out).expect("save weights");
    trained
        .record
        .save(&out.with_extension("json"))
        .expect("save record");
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let peak_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmHWM");
    println!(
        "{{\"seconds\": {}, \"feature_seconds\": {}, \"peak_rss_mib\": {}}}",
        started.elapsed().as_secs_f64(),
        trained.record.feature_seconds.unwrap_or(0.0),
        peak_kb / 1024.0
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--ours-child") {
        ours_child(Path::new(&args[at + 1]), Path::new(&args[at + 2]));
        return;
    }
    let training_count = env_number("PERCEPT_BENCH_TRIPLETS", 5000);
    let validation_count = env_number("PERCEPT_BENCH_VALIDATION", 1000);
    let official_epochs = std::env::var("PERCEPT_BENCH_OFFICIAL_EPOCHS").unwrap_or("5+5".into());
    let (epochs, decay) = official_epochs
        .split_once('+')
        .map(|(e, d)| {
            (
                e.parse::<usize>().expect("E"),
                d.parse::<usize>().expect("D"),
            )
        })
        .expect("PERCEPT_BENCH_OFFICIAL_EPOCHS as E+D");
    let threads = threads();
    Scorer::set_threads(threads);

    let dir = tempfile::tempdir().expect("temp dir");
    let data = std::env::var_os("PERCEPT_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().to_owned());
    let (train_root, validation_root) = (data.join("train"), data.join("val"));
    let generating = Instant::now();
    for (root, seed, count) in [
        (&train_root, 1, training_count),
        (&validation_root, 2, validation_count),
    ] {
        let existing = std::fs::read_dir(root.join("judge")).map_or(0, |d| d.count());
        if existing != count {
            let _ = std::fs::remove_dir_all(root);
            write_bapps(root, seed, count);
        }
    }
    println!(
        "data: {training_count} training and {validation_count} validation triplets, 64x64, BAPPS layout in {} ({:.0} s to generate or check)",
        data.display(),
        generating.elapsed().as_secs_f64()
    );

    let ours_out = dir.path().join("ours.safetensors");
    let started = Instant::now();
    let output = Command::new(std::env::current_exe().expect("own path"))
        .arg("--ours-child")
        .args([&train_root, &ours_out])
        .output()
        .expect("run our trainer");
    let ours_wall = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ours_report = String::from_utf8_lossy(&output.stdout);
    let peak_rss = common::json_number(&ours_report, "peak_rss_mib");
    let feature_seconds = common::json_number(&ours_report, "feature_seconds");
    println!("ours: {ours_wall:.1} s end to end (trunk passes {feature_seconds:.1} s), peak RSS {peak_rss:.0} MiB");

    let official_out = dir.path().join("official.safetensors");
    let started = Instant::now();
    let weights_dir = std::env::var_os("PERCEPT_WEIGHTS_DIR").expect("PERCEPT_WEIGHTS_DIR");
    python(&[
        "train".as_ref(),
        weights_dir.as_ref(),
        "alex".as_ref(),
        "lin".as_ref(),
        train_root.as_os_str(),
        epochs.to_string().as_ref(),
        decay.to_string().as_ref(),
        threads.to_string().as_ref(),
        official_out.as_os_str(),
    ]);
    let official_wall = started.elapsed().as_secs_f64();
    let full_epochs = 10.0;
    let official_full = official_wall * full_epochs / (epochs + decay) as f64;
    println!(
        "official: {official_wall:.1} s end to end for {epochs}+{decay} epochs{}",
        if epochs + decay == 10 {
            String::new()
        } else {
            format!(" (x10/{} = {official_full:.0} s for 5+5)", epochs + decay)
        }
    );

    let score = |weights: &Path| {
        common::json_number(
            &python(&[
                "score".as_ref(),
                weights.as_os_str(),
                "alex".as_ref(),
                validation_root.as_os_str(),
                threads.to_string().as_ref(),
            ]),
            "score",
        )
    };
    let (ours_score, official_score) = (score(&ours_out), score(&official_out));
    let released = score(&PathBuf::from(&weights_dir).join("alex.safetensors"));
    println!();
    println!("| lin, alex, {training_count} triplets | official `lpips.Trainer` | ours | ratio |");
    println!("|---|---|---|---|");
    println!("| epochs | {epochs}+{decay} | 5+5 | |");
    println!(
        "| end to end (s) | {official_wall:.1} | {ours_wall:.1} | {:.1}x |",
        official_wall / ours_wall
    );
    if epochs + decay != 10 {
        println!(
            "| end to end, official scaled to 5+5 (s) | {official_full:.0} | {ours_wall:.1} | {:.1}x |",
            official_full / ours_wall
        );
    }
    println!(
        "| validation 2AFC (official scorer) | {:.2} | {:.2} | {:+.2} points |",
        100.0 * official_score,
        100.0 * ours_score,
        100.0 * (ours_score - official_score)
    );
    println!("| peak RSS (MiB) | | {peak_rss:.0} | |");
    println!(
        "(the released lpips-alex weights score {:.2} on the same validation set; threads {threads})",
        100.0 * released
    );
}

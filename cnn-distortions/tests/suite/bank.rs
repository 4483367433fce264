//! A small bank, built once: resuming, applying, determinism within and
//! across processes, and refusals.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::common::{build_bank, demo_photos, patches};
use cnn_distortions::{Bank, BuildOptions, CnnError, SpecSampler, Task, INFERENCE_BATCH};
use distortions::image::RgbImage;

const BANK_SEED: u64 = 3;
const NETWORKS: u32 = 4;
const PATCHES: usize = 24;
const SEED_BASE: u64 = 1000;

#[test]
fn sampled_specs_cover_the_family() {
    let sampler = SpecSampler::default();
    let specs: Vec<_> = (0..400).map(|seed| sampler.sample(seed)).collect();
    let tasks: BTreeSet<String> = specs
        .iter()
        .map(|spec| match spec.task {
            Task::Denoising { noise, .. } => format!("denoising {noise:?}"),
            Task::SuperResolution { factor } => format!("super_resolution x{factor}"),
            _ => spec.task_name().to_owned(),
        })
        .collect();
    let expected = [
        "autoencoding",
        "colorization",
        "deblurring",
        "denoising Pink",
        "denoising White",
        "jpeg_artifact_removal",
        "super_resolution x2",
        "super_resolution x4",
    ];
    assert_eq!(tasks, expected.iter().map(|s| s.to_string()).collect());
    let drawn = |f: &dyn Fn(&cnn_distortions::NetworkSpec) -> String| -> BTreeSet<String> {
        specs.iter().map(f).collect()
    };
    assert_eq!(drawn(&|s| s.architecture.depth.to_string()).len(), 3);
    assert_eq!(
        drawn(&|s| format!("{:?}", s.architecture.downsampling)).len(),
        3
    );
    assert_eq!(
        drawn(&|s| format!("{:?}", s.architecture.upsampling)).len(),
        3
    );
    assert_eq!(
        drawn(&|s| format!("{:?}", s.architecture.normalization)).len(),
        3
    );
    assert_eq!(
        drawn(&|s| format!("{:?}", s.architecture.output_activation)).len(),
        3
    );
    assert_eq!(drawn(&|s| format!("{:?}", s.learning.optimizer)).len(), 3);
    assert_eq!(drawn(&|s| format!("{:?}", s.learning.loss)).len(), 2);
    assert_eq!(
        drawn(&|s| s.architecture.skip_connections.to_string()).len(),
        2
    );
    // Under-trained and longer-trained networks both occur.
    let iterations: Vec<u32> = specs.iter().map(|s| s.learning.iterations).collect();
    assert!(iterations.iter().any(|&n| n < 40) && iterations.iter().any(|&n| n > 300));
}

#[test]
fn a_small_bank_builds_resumes_applies_and_refuses_bad_input() {
    let (dir, bank) = build_bank(NETWORKS, BANK_SEED, 10..=25);
    let records = bank.list().unwrap();
    assert_eq!(records.len(), NETWORKS as usize);
    for record in &records {
        assert!(
            record.training_loss.is_finite() && record.training_loss > 0.0,
            "{record:?}"
        );
    }

    // Building again keeps every network: nothing is retrained.
    let options = BuildOptions {
        count: NETWORKS,
        seed: BANK_SEED,
        sampler: SpecSampler::with_iterations(10..=25).unwrap(),
    };
    let mut trained = Vec::new();
    let again = Bank::build(dir.path(), &options, &demo_photos(), |p| {
        trained.push(p.trained)
    })
    .unwrap();
    assert_eq!(trained, vec![false; NETWORKS as usize]);
    assert_eq!(again.list().unwrap(), records);
    // Other sampler ranges would give other specs: refused, not mixed in.
    let other = BuildOptions {
        sampler: SpecSampler::with_iterations(500..=600).unwrap(),
        ..options
    };
    let error = Bank::build(dir.path(), &other, &demo_photos(), |_| {}).unwrap_err();
    assert!(matches!(error, CnnError::SpecMismatch { .. }), "{error}");

    let patches = patches(&demo_photos(), PATCHES, 64);
    let outputs = apply_all(&bank, &patches);
    for (network, output) in records.iter().zip(&outputs) {
        let unchanged = output.iter().zip(&patches).filter(|(o, p)| o == p).count();
        assert_eq!(
            unchanged, 0,
            "{} left {unchanged} patches unchanged",
            network.id
        );
    }
    for pair in outputs.windows(2) {
        assert!(
            pair[0].iter().zip(&pair[1]).all(|(a, b)| a != b),
            "two networks gave the same patch"
        );
    }
    // The same bytes twice in one process, and whatever the batch holds.
    assert_eq!(apply_all(&bank, &patches), outputs);
    let network = bank.load(&records[0].id).unwrap();
    let alone = network
        .apply_one(&patches[INFERENCE_BATCH + 3], seed(INFERENCE_BATCH + 3))
        .unwrap();
    assert_eq!(alone, outputs[0][INFERENCE_BATCH + 3]);

    check_restarts(dir.path(), &outputs);
    check_refusals(&bank, &patches[0]);
    check_tampering(dir.path(), &records[1].id);
}

fn seed(index: usize) -> u64 {
    SEED_BASE + index as u64
}

/// Every network of the bank applied to every patch, seed per patch.
fn apply_all(bank: &Bank, patches: &[RgbImage]) -> Vec<Vec<RgbImage>> {
    let refs: Vec<&RgbImage> = patches.iter().collect();
    let seeds: Vec<u64> = (0..patches.len()).map(seed).collect();
    bank.list()
        .unwrap()
        .iter()
        .map(|record| bank.load(&record.id).unwrap().apply(&refs, &seeds).unwrap())
        .collect()
}

const CHILD_BANK: &str = "CNN_TEST_CHILD_BANK";
const CHILD_OUT: &str = "CNN_TEST_CHILD_OUT";
const CHILD_THREADS: &str = "CNN_TEST_CHILD_THREADS";

/// Run in a child process by `check_restarts`: applies the bank to the
/// test patches and writes every output's bytes to a file.
#[test]
#[ignore = "the child process of a_small_bank_builds_resumes_applies_and_refuses_bad_input"]
fn restart_child() {
    let bank = Bank::open(std::env::var(CHILD_BANK).unwrap()).unwrap();
    let threads: i32 = std::env::var(CHILD_THREADS).unwrap().parse().unwrap();
    tch::set_num_threads(threads);
    let outputs = apply_all(&bank, &patches(&demo_photos(), PATCHES, 64));
    let bytes: Vec<u8> = outputs
        .iter()
        .flatten()
        .flat_map(|image| image.as_raw().clone())
        .collect();
    std::fs::write(std::env::var(CHILD_OUT).unwrap(), bytes).unwrap();
}

/// The outputs' bytes from a fresh process with `threads` threads and
/// `environment` (e.g. libtorch restricted to older vector instructions).
fn child_outputs(bank_dir: &Path, threads: u32, environment: &[(&str, &str)]) -> Vec<u8> {
    let out = tempfile::NamedTempFile::new().unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "bank::restart_child",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ])
        .env(CHILD_BANK, bank_dir)
        .env(CHILD_OUT, out.path())
        .env(CHILD_THREADS, threads.to_string())
        .envs(environment.iter().copied())
        .status()
        .unwrap();
    assert!(status.success(), "the child process failed: {status}");
    std::fs::read(out.path()).unwrap()
}

fn check_restarts(bank_dir: &Path, outputs: &[Vec<RgbImage>]) {
    let expected: Vec<u8> = outputs
        .iter()
        .flatten()
        .flat_map(|image| image.as_raw().clone())
        .collect();
    for threads in [1, 2] {
        let bytes = child_outputs(bank_dir, threads, &[]);
        assert!(
            bytes == expected,
            "other bytes after a restart with {threads} threads"
        );
    }
    // Another CPU, emulated: libtorch's own kernels at their baseline and
    // oneDNN's limited to AVX2.
    for (name, environment) in [
        (
            "AVX2",
            &[
                ("ONEDNN_MAX_CPU_ISA", "AVX2"),
                ("ATEN_CPU_CAPABILITY", "avx2"),
            ][..],
        ),
        (
            "baseline",
            &[
                ("ONEDNN_MAX_CPU_ISA", "SSE41"),
                ("ATEN_CPU_CAPABILITY", "default"),
            ][..],
        ),
    ] {
        let bytes = child_outputs(bank_dir, 2, environment);
        assert_eq!(bytes.len(), expected.len());
        let differing = bytes.iter().zip(&expected).filter(|(a, b)| a != b).count();
        let largest = bytes
            .iter()
            .zip(&expected)
            .map(|(&a, &b)| a.abs_diff(b))
            .max()
            .unwrap();
        eprintln!(
            "{name} kernels: {differing} of {} bytes differ, by at most {largest} level(s)",
            expected.len()
        );
        assert!(
            largest <= 1,
            "{name} kernels moved a byte by {largest} levels"
        );
    }
}

fn check_refusals(bank: &Bank, patch: &RgbImage) {
    let error = bank.load("s3-999").unwrap_err();
    assert!(matches!(error, CnnError::UnknownNetwork { .. }), "{error}");
    assert!(
        error.to_string().contains("s3-000"),
        "the error lists the bank: {error}"
    );
    assert!(matches!(
        bank.load("../etc/passwd").unwrap_err(),
        CnnError::UnknownNetwork { .. }
    ));
    let network = bank.load("s3-000").unwrap();
    let multiple = network.record().spec.side_multiple();
    let odd = RgbImage::new(multiple * 8 + 1, 64);
    let error = network.apply_one(&odd, 0).unwrap_err();
    assert!(
        matches!(error, CnnError::UnsupportedPatchSize { .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains(&format!("multiples of {multiple}")),
        "{error}"
    );
    let error = network.apply(&[patch, patch], &[1]).unwrap_err();
    assert!(matches!(error, CnnError::InvalidInput(_)), "{error}");
    let error = Bank::open(bank.dir().join("missing")).unwrap_err();
    assert!(error.to_string().contains("build one first"), "{error}");
}

/// A bank copy with one weight changed: loading and building refuse it.
fn check_tampering(bank_dir: &Path, id: &str) {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(bank_dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
    }
    let weights = copy.path().join(format!("{id}.safetensors"));
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&weights, bytes).unwrap();
    let bank = Bank::open(copy.path()).unwrap();
    let error = bank.load(id).unwrap_err();
    assert!(matches!(error, CnnError::HashMismatch { .. }), "{error}");
    let options = BuildOptions {
        count: NETWORKS,
        seed: BANK_SEED,
        sampler: SpecSampler::with_iterations(10..=25).unwrap(),
    };
    let error = Bank::build(copy.path(), &options, &demo_photos(), |_| {}).unwrap_err();
    assert!(matches!(error, CnnError::HashMismatch { .. }), "{error}");
}

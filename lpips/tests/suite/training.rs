//! Training (issue 15): one optimiser step equals the official trainer's,
//! trained weights round-trip through safetensors (ours and the official
//! package's loader) with the distances the trainer saw, and lin training
//! learns a known observer.

use crate::common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use image::RgbImage;
use lpips::training::{
    train, train_resumable, Checkpoint, JudgedTriplet, Mode, Progress, Session, Settings, Start,
    StartingWeights, Step, TrainingError, TripletSet,
};
use lpips::{DeviceChoice, Lpips, Net, Scorer, Triplet, Weighting};
use tch::{Device, Tensor};

const STEP_TOLERANCE: f64 = 1e-5;
const RELOAD_TOLERANCE: f64 = 1e-6;

/// Triplets judged by observers who follow `lpips-alex-nolin` (see
/// [`common::observed_triplets`]).
fn triplets(seed: u64, count: usize, noise: f64) -> (Vec<RgbImage>, Vec<JudgedTriplet>) {
    let observer = Scorer::new(common::model(Net::Alex, Weighting::ChannelSum));
    common::observed_triplets(&mut common::Rng::new(seed), &observer, count, noise)
}

fn python() -> PathBuf {
    common::env_dir("PERCEPT_VENV").join("bin/python")
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../python/lpips_official_training.py")
}

fn run_official(args: &[&std::ffi::OsStr]) -> String {
    let output = Command::new(python())
        .arg(script())
        .args(args)
        .output()
        .expect("run the official trainer");
    assert!(
        output.status.success(),
        "official trainer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn max_abs_difference(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    f64::try_from((a - b).abs().max()).unwrap()
}

fn one_step_matches_official(mode: Mode) {
    let (patches, judged) = triplets(11, 10, 0.3);
    let dir = tempfile::tempdir().unwrap();
    let raw: Vec<u8> = patches.iter().flat_map(|p| p.as_raw().clone()).collect();
    let raw_path = dir.path().join("batch.raw");
    std::fs::write(&raw_path, raw).unwrap();
    let judges_path = dir.path().join("judges.csv");
    let judges: String = judged.iter().map(|j| format!("{}\n", j.judge)).collect();
    std::fs::write(&judges_path, judges).unwrap();
    let weights_dir = common::weights_dir();
    let count = judged.len().to_string();
    let output = run_official(&[
        "step".as_ref(),
        weights_dir.as_os_str(),
        "alex".as_ref(),
        mode.name().as_ref(),
        raw_path.as_os_str(),
        count.as_ref(),
        "64".as_ref(),
        judges_path.as_os_str(),
        "3".as_ref(),
        dir.path().as_os_str(),
    ]);
    let official_loss = common::json_number(&output, "loss");

    let start = StartingWeights::from_safetensors(&dir.path().join("initial.safetensors")).unwrap();
    let set = TripletSet::new(&patches, &judged);
    let mut session =
        Session::new(Net::Alex, mode, Device::Cpu, start, set, None, &mut |_| {}).unwrap();
    let batch: Vec<usize> = (0..judged.len()).collect();
    let Step::Applied { loss } = session.step(&batch, 1e-4, false).unwrap() else {
        panic!("the step was skipped")
    };
    let loss_difference = (f64::from(loss) - official_loss).abs();
    println!(
        "{mode}: loss ours {loss}, official {official_loss}, |difference| {loss_difference:.2e}"
    );
    assert!(loss_difference <= STEP_TOLERANCE);

    let official: HashMap<String, Tensor> =
        Tensor::read_safetensors(dir.path().join("updated.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    let initial: HashMap<String, Tensor> =
        Tensor::read_safetensors(dir.path().join("initial.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    let ours = session.parameters();
    assert_eq!(ours.len(), official.len(), "same parameters");
    let mut worst = (0.0, String::new());
    let mut moved = 0;
    for (name, tensor) in &ours {
        let difference = max_abs_difference(tensor, &official[name]);
        if difference > worst.0 {
            worst = (difference, name.clone());
        }
        if max_abs_difference(&official[name], &initial[name]) > 0.0 {
            moved += 1;
        }
    }
    println!(
        "{mode}: {} tensors, {moved} moved by the official step; max |ours - official| = {:.2e} ({})",
        ours.len(),
        worst.0,
        worst.1
    );
    // The step changed the linear layers and G, and for tune the trunk.
    let expected_moved = match mode {
        Mode::Lin => 5 + 6,
        _ => ours.len(),
    };
    assert_eq!(moved, expected_moved);
    assert!(
        worst.0 <= STEP_TOLERANCE,
        "{} differs by {}",
        worst.1,
        worst.0
    );
}

#[test]
fn one_lin_step_equals_the_official_trainer_s() {
    one_step_matches_official(Mode::Lin);
}

#[test]
fn one_tune_step_equals_the_official_trainer_s() {
    one_step_matches_official(Mode::Tune);
}

fn cpu_settings(mode: Mode, epochs: usize) -> Settings {
    Settings {
        epochs,
        decay_epochs: 0,
        batch_size: 10,
        device: DeviceChoice::Cpu,
        ..Settings::new(Net::Alex, mode)
    }
}

fn official_start(mode: Mode, seed: u64) -> StartingWeights {
    let pretrained = common::weights_dir().join("alex.safetensors");
    StartingWeights::official(Net::Alex, mode, Some(&pretrained), seed).unwrap()
}

/// The largest |a - b| over the triplets' two distances.
fn max_distance_difference(a: &[lpips::TripletDistances], b: &[lpips::TripletDistances]) -> f64 {
    a.iter()
        .zip(b)
        .flat_map(|(a, b)| [(a.d0 - b.d0).abs(), (a.d1 - b.d1).abs()])
        .fold(0.0f32, f32::max)
        .into()
}

fn saved_weights_score_like_the_trainer(mode: Mode, steps: usize) {
    let (patches, judged) = triplets(21, 40, 0.3);
    let (training, validation) = judged.split_at(30);
    let mut session = Session::new(
        Net::Alex,
        mode,
        Device::Cpu,
        official_start(mode, 5),
        TripletSet::new(&patches, training),
        Some(TripletSet::new(&patches, validation)),
        &mut |_| {},
    )
    .unwrap();
    for step in 0..steps {
        let batch: Vec<usize> = (0..10).map(|i| (step * 10 + i) % 30).collect();
        assert!(matches!(
            session.step(&batch, 1e-3, true).unwrap(),
            Step::Applied { .. }
        ));
    }
    let in_memory = session.distances(true).unwrap();
    let metric = session.metric();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("retrained.safetensors");
    metric.save(&path).unwrap();
    let reloaded = Lpips::load(Net::Alex, Weighting::Lin, &path).expect("our loader");
    let layout: Vec<Triplet> = validation.iter().map(|j| j.triplet).collect();
    let scored = Scorer::new(reloaded)
        .score_triplets(&patches, &layout)
        .unwrap();
    let difference = max_distance_difference(&in_memory, &scored);
    println!("{mode}: reloaded vs in-memory distances: max |difference| = {difference:.2e}");
    assert!(difference <= RELOAD_TOLERANCE);

    // The official package loads the same file with load_state_dict.
    let mut pairs = String::new();
    for (i, t) in layout.iter().enumerate() {
        for (side, patch) in [(0, t.p0), (1, t.p1)] {
            let (a, b) = (
                dir.path().join(format!("{i}_{side}_ref.png")),
                dir.path().join(format!("{i}_{side}.png")),
            );
            patches[t.reference].save(&a).unwrap();
            patches[patch].save(&b).unwrap();
            pairs += &format!("{},{}\n", a.display(), b.display());
        }
    }
    let (pairs_path, out_path) = (dir.path().join("pairs.csv"), dir.path().join("out.csv"));
    std::fs::write(&pairs_path, pairs).unwrap();
    run_official(&[
        "distances".as_ref(),
        path.as_os_str(),
        "alex".as_ref(),
        pairs_path.as_os_str(),
        out_path.as_os_str(),
    ]);
    let official: Vec<f64> = std::fs::read_to_string(&out_path)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let official_difference = scored
        .iter()
        .flat_map(|d| [d.d0, d.d1])
        .zip(&official)
        .map(|(ours, official)| (f64::from(ours) - official).abs())
        .fold(0.0, f64::max);
    println!(
        "{mode}: official package on the saved file: max |difference| = {official_difference:.2e}"
    );
    assert_eq!(official.len(), 2 * layout.len());
    assert!(official_difference <= 1e-5);

    for (tap, weights) in metric.lin_weights().unwrap().iter().enumerate() {
        assert!(
            weights.iter().all(|&w| w >= 0.0),
            "tap {tap} has a negative linear weight"
        );
    }
}

#[test]
fn lin_weights_saved_reload_and_score_like_the_trainer() {
    saved_weights_score_like_the_trainer(Mode::Lin, 12);
}

#[test]
fn tuned_weights_saved_reload_and_score_like_the_trainer() {
    saved_weights_score_like_the_trainer(Mode::Tune, 2);
}

#[test]
fn lin_training_learns_a_channel_sum_observer() {
    let (patches, judged) = triplets(31, 240, 0.15);
    let (training, validation) = judged.split_at(160);
    let settings = Settings {
        learning_rate: 1e-3,
        ..cpu_settings(Mode::Lin, 20)
    };
    let mut epochs_seen = 0;
    let trained = train(
        &settings,
        official_start(Mode::Lin, 1),
        TripletSet::new(&patches, training),
        Some(TripletSet::new(&patches, validation)),
        &mut |progress| {
            if let Progress::Epoch(_) = progress {
                epochs_seen += 1;
            }
        },
    )
    .unwrap();
    let record = &trained.record;
    let initial = record.initial_validation_2afc.unwrap();
    let last = record.epochs.last().unwrap();
    let learned = last.validation_2afc.unwrap();
    println!(
        "validation 2AFC: {initial:.4} at the start, {learned:.4} after {} epochs (loss {:.4} → {:.4})",
        record.epochs.len(),
        record.epochs[0].loss,
        last.loss
    );
    assert_eq!(epochs_seen, 20);
    assert!(learned > initial + 0.02, "{initial} → {learned}");
    assert!(last.loss < record.epochs[0].loss);
    let json = record.to_json();
    assert!(json.contains("\"validation_2afc\"") && json.contains("\"mode\": \"lin\""));
}

#[test]
fn a_diverging_step_stops_training_and_keeps_the_weights_before_it() {
    let (patches, judged) = triplets(41, 20, 0.3);
    let settings = Settings {
        // Overflows float32: the first update is infinite.
        learning_rate: 1e300,
        ..cpu_settings(Mode::Lin, 1)
    };
    let start = official_start(Mode::Lin, 2);
    let error = train(
        &settings,
        start,
        TripletSet::new(&patches, &judged),
        None,
        &mut |_| {},
    )
    .unwrap_err();
    let TrainingError::NonFinite {
        epoch,
        step,
        last_good,
        ..
    } = &error
    else {
        panic!("expected a non-finite stop, got {error}")
    };
    assert_eq!((*epoch, *step), (1, 1));
    assert!(error.to_string().contains("epoch 1, step 1"), "{error}");
    // The kept weights are the starting ones: finite, the step not applied.
    let again = official_start(Mode::Lin, 2);
    let mut session = Session::new(
        Net::Alex,
        Mode::Lin,
        Device::Cpu,
        again,
        TripletSet::new(&patches, &judged),
        None,
        &mut |_| {},
    )
    .unwrap();
    let starting = session.metric();
    for ((name, kept), (_, expected)) in last_good
        .metric
        .state_dict()
        .iter()
        .zip(starting.state_dict())
    {
        assert_eq!(max_abs_difference(kept, expected), 0.0, "{name}");
    }
    assert!(last_good.record.stopped.is_some());
    assert!(matches!(
        session.step(&[0, 1], 1e300, true).unwrap(),
        Step::Skipped { .. }
    ));
}

/// A run stopped after its first epoch and resumed from that epoch's
/// checkpoint (through its bytes, as the training job stores it) ends with
/// the weights and record of an uninterrupted run.
fn resumed_run_equals_an_uninterrupted_one(mode: Mode, count: usize) {
    let (patches, judged) = triplets(51, count, 0.3);
    let (training, validation) = judged.split_at(count * 3 / 4);
    let settings = Settings {
        decay_epochs: 1,
        ..cpu_settings(mode, 1)
    };
    let run = |start| {
        let mut checkpoints = Vec::new();
        let result = train_resumable(
            &settings,
            start,
            TripletSet::new(&patches, training),
            Some(TripletSet::new(&patches, validation)),
            &mut |_| {},
            &mut |checkpoint: &Checkpoint| {
                checkpoints.push((
                    checkpoint.to_bytes().map_err(|e| e.to_string())?,
                    checkpoint.record.clone(),
                ));
                Ok(())
            },
        );
        (result, checkpoints)
    };
    let (whole, checkpoints) = run(Start::Fresh(official_start(mode, 5)));
    let whole = whole.unwrap();
    assert_eq!(checkpoints.len(), 2);
    let (bytes, record) = checkpoints[0].clone();
    let checkpoint = Checkpoint::from_bytes(&bytes, record).unwrap();
    assert_eq!(checkpoint.epochs_done(), 1);
    let (resumed, _) = run(Start::Resume(Box::new(checkpoint)));
    let resumed = resumed.unwrap();
    let names: HashMap<&str, &Tensor> = whole
        .metric
        .state_dict()
        .iter()
        .map(|(name, tensor)| (name.as_str(), tensor))
        .collect();
    for (name, tensor) in resumed.metric.state_dict() {
        let difference = max_abs_difference(names[name.as_str()], tensor);
        assert!(difference <= 1e-7, "{name}: {difference}");
    }
    let losses = |trained: &lpips::training::Trained| -> Vec<f64> {
        trained.record.epochs.iter().map(|e| e.loss).collect()
    };
    assert_eq!(losses(&resumed), losses(&whole));
}

#[test]
fn a_lin_run_resumed_from_a_checkpoint_ends_as_an_uninterrupted_one() {
    resumed_run_equals_an_uninterrupted_one(Mode::Lin, 40);
}

#[test]
fn a_tune_run_resumed_from_a_checkpoint_ends_as_an_uninterrupted_one() {
    resumed_run_equals_an_uninterrupted_one(Mode::Tune, 12);
}

/// Every random draw of a run (initial weights, shuffles, dropout) comes
/// from the run's own stream: the same training twice at once in one
/// process ends as it does alone.
#[test]
fn trainings_side_by_side_in_one_process_end_as_they_do_alone() {
    let (patches, judged) = triplets(61, 40, 0.3);
    let settings = cpu_settings(Mode::Lin, 3);
    let run = || {
        train(
            &settings,
            official_start(Mode::Lin, 9),
            TripletSet::new(&patches, &judged),
            None,
            &mut |_| {},
        )
        .unwrap()
    };
    let alone = run();
    let side_by_side: Vec<lpips::training::Trained> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..2).map(|_| scope.spawn(run)).collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let losses = |trained: &lpips::training::Trained| -> Vec<f64> {
        trained.record.epochs.iter().map(|e| e.loss).collect()
    };
    for trained in &side_by_side {
        assert_eq!(losses(trained), losses(&alone));
        for ((name, a), (_, b)) in trained
            .metric
            .state_dict()
            .iter()
            .zip(alone.metric.state_dict())
        {
            assert_eq!(max_abs_difference(a, b), 0.0, "{name}");
        }
    }
}

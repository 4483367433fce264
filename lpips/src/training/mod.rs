//! Learning LPIPS from 2AFC judgments, as the paper's "Training on our data"
//! and the official `train.py` / `lpips.Trainer` do, in three variants
//! ([`Mode`]): lin (frozen pretrained trunk, non-negative linear layers),
//! tune (everything, from the pretrained trunk) and scratch (everything,
//! from a random trunk).
//!
//! The official recipe, reproduced step for step (see [`network`] for the
//! initialisations): distances d0, d1 with dropout (p = 0.5) before each
//! linear layer; the rank network G maps them to the probability that people
//! prefer p1; binary cross-entropy against the judge; Adam (β 0.5, 0.999)
//! over the LPIPS and G parameters; every 1×1 weight of the LPIPS network
//! clamped at 0 after each step; `epochs` at the learning rate, then
//! `decay_epochs` lowering it linearly (the official schedule: with 5 + 5,
//! epochs 1–6 at the rate, 7–10 at 0.8, 0.6, 0.4, 0.2 of it); batches of 50
//! shuffled triplets, the last one smaller.
//!
//! Lin is different in one respect, for speed: the frozen trunk runs once per
//! distinct patch before training instead of twice per triplet per epoch, and
//! the dropout acts on per-channel statistics of the maps (see
//! [`precomputed`] for why this learns like the elementwise one).
//!
//! [`train`] runs the whole schedule with a progress callback
//! ([`train_resumable`] also checkpoints after every epoch and can carry on
//! from a checkpoint); [`Session`]
//! exposes single steps (the conformance tests compare one with the official
//! trainer's).

mod adam;
mod checkpoint;
mod data;
mod error;
pub mod network;
mod output;
pub mod precomputed;
mod random;

use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

pub use checkpoint::Checkpoint;
pub use data::{score_2afc, JudgedTriplet, PatchSource, TripletSet};
pub use error::{BoxError, TrainingError};
pub use network::StartingWeights;
pub use output::{EpochRecord, Stop, Trained, TrainedMetric, TrainingRecord};

use crate::backbone::Net;
use crate::device::{device_name, DeviceChoice};
use crate::scoring::TripletDistances;
use adam::Adam;
use data::score_distances;
use network::{pair_distances, take_lins, RankNet, Trunk};
use precomputed::{Extractor, PairStatistics};
use random::Draws;

/// Which weights are learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Pretrained trunk, frozen; learn the linear layers.
    Lin,
    /// Pretrained trunk; learn everything.
    Tune,
    /// Random trunk (the official `pnet_rand`); learn everything.
    Scratch,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Lin => "lin",
            Mode::Tune => "tune",
            Mode::Scratch => "scratch",
        }
    }

    /// Whether the trunk starts from the pretrained weights.
    pub fn needs_pretrained_trunk(self) -> bool {
        self != Mode::Scratch
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = TrainingError;

    fn from_str(s: &str) -> Result<Self, TrainingError> {
        match s {
            "lin" => Ok(Mode::Lin),
            "tune" => Ok(Mode::Tune),
            "scratch" => Ok(Mode::Scratch),
            other => Err(TrainingError::Settings(format!(
                "unknown mode `{other}`; expected lin, tune or scratch"
            ))),
        }
    }
}

/// Training settings; [`Settings::new`] gives the official defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub net: Net,
    pub mode: Mode,
    /// Epochs at the full learning rate (`train.py --nepoch`).
    pub epochs: usize,
    /// Epochs lowering it linearly (`--nepoch_decay`).
    pub decay_epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Seeds the initialisation, the shuffles and the dropout.
    pub seed: u64,
    /// libtorch's intra-op threads (process-wide); `None` keeps its default.
    pub threads: Option<usize>,
    pub device: DeviceChoice,
}

impl Settings {
    /// 5 + 5 epochs, batch 50, learning rate 1e-4, seed 0, on `auto`.
    pub fn new(net: Net, mode: Mode) -> Self {
        Self {
            net,
            mode,
            epochs: 5,
            decay_epochs: 5,
            batch_size: 50,
            learning_rate: 1e-4,
            seed: 0,
            threads: None,
            device: DeviceChoice::Auto,
        }
    }

    pub fn total_epochs(&self) -> usize {
        self.epochs + self.decay_epochs
    }

    /// The rate of 1-based `epoch` under `train.py`'s schedule: after each
    /// epoch past `epochs` it drops by rate / `decay_epochs`.
    pub fn learning_rate_at(&self, epoch: usize) -> f64 {
        let drops = epoch.saturating_sub(self.epochs + 1);
        if drops == 0 {
            return self.learning_rate;
        }
        self.learning_rate * (1.0 - drops as f64 / self.decay_epochs as f64)
    }

    /// Refuses settings training cannot run with, saying why.
    pub fn check(&self) -> Result<(), TrainingError> {
        let problem = if self.total_epochs() == 0 {
            Some("epochs + decay epochs must be at least 1".to_owned())
        } else if self.batch_size == 0 {
            Some("the batch size must be at least 1".to_owned())
        } else if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            Some(format!(
                "the learning rate must be a positive number, not {}",
                self.learning_rate
            ))
        } else if self.threads == Some(0) {
            Some("threads must be at least 1".to_owned())
        } else {
            None
        };
        problem.map_or(Ok(()), |p| Err(TrainingError::Settings(p)))
    }
}

/// What training reports as it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress<'a> {
    /// Lin: triplets whose patches went through the trunk so far, counted
    /// for the training set, then again for the validation set.
    Features { done: usize, total: usize },
    /// A training step finished (`step` is 1-based within the epoch).
    Step {
        epoch: usize,
        step: usize,
        steps_per_epoch: usize,
        loss: f32,
    },
    /// An epoch finished.
    Epoch(&'a EpochRecord),
}

/// The outcome of [`Session::step`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// The weights were updated; the batch's loss before the update.
    Applied { loss: f32 },
    /// Nothing was changed, for `reason`.
    Skipped { loss: f32, reason: &'static str },
}

/// How a session gets its distances.
enum Distances {
    /// Lin: statistics of the frozen trunk's taps.
    Precomputed {
        /// The frozen trunk, by state-dict name, on the CPU (for the output).
        trunk: Vec<(String, Tensor)>,
        training: PairStatistics,
        validation: Option<PairStatistics>,
    },
    /// Tune and scratch: the trunk in the loop.
    EndToEnd { trunk: Trunk },
}

/// A model being trained, one step at a time.
pub struct Session<'a> {
    net: Net,
    device: Device,
    lins: Vec<Tensor>,
    rank: RankNet,
    adam: Adam,
    distances: Distances,
    training_judges: Tensor,
    training_set: TripletSet<'a>,
    validation_set: Option<TripletSet<'a>>,
    /// The dropout's draws (see [`random`]).
    dropout: Draws,
}

/// Triplets per forward pass when scoring end to end.
const SCORING_TRIPLETS_PER_PASS: usize = 32;

impl<'a> Session<'a> {
    /// Checks the data, places the starting weights on `device` and, for lin,
    /// runs every distinct patch of both sets through the trunk.
    pub fn new(
        net: Net,
        mode: Mode,
        device: Device,
        start: StartingWeights,
        training: TripletSet<'a>,
        validation: Option<TripletSet<'a>>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Self, TrainingError> {
        training.check("training")?;
        if let Some(validation) = &validation {
            validation.check("validation")?;
        }
        let mut weights = start.into_weight_file(net);
        let trainable_trunk = mode != Mode::Lin;
        let trunk = Trunk::take(net, &mut weights, device, trainable_trunk)?;
        let lins = take_lins(net, &mut weights, device)?;
        let rank = RankNet::take(&mut weights, device)?;
        let mut parameters: Vec<&Tensor> = lins.iter().collect();
        parameters.extend(rank.parameters().into_iter().map(|(_, p)| p));
        let (distances, adam) = if trainable_trunk {
            let mut all: Vec<&Tensor> = trunk.parameters().into_iter().map(|(_, p)| p).collect();
            all.extend(&parameters);
            let adam = Adam::new(&all);
            (Distances::EndToEnd { trunk }, adam)
        } else {
            let adam = Adam::new(&parameters);
            (
                precompute(net, device, trunk, &training, validation.as_ref(), progress)?,
                adam,
            )
        };
        Ok(Self {
            net,
            device,
            training_judges: training.judges(device),
            lins,
            rank,
            adam,
            distances,
            training_set: training,
            validation_set: validation,
            dropout: Draws::new(0),
        })
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// Restarts the dropout's draws from `seed` (each epoch does, so a
    /// resumed run draws what an uninterrupted one would).
    pub fn seed_dropout(&mut self, seed: u64) {
        self.dropout = Draws::new(seed);
    }

    /// One optimiser step on the training triplets at `batch` (indices into
    /// the training set). When the loss, a gradient or an updated weight is
    /// not finite, the weights are left as they were.
    pub fn step(
        &mut self,
        batch: &[usize],
        learning_rate: f64,
        dropout: bool,
    ) -> Result<Step, TrainingError> {
        let index = Tensor::from_slice(&batch.iter().map(|&i| i as i64).collect::<Vec<_>>())
            .to(self.device);
        let weights = self.lin_vector();
        let draws = dropout.then_some(&mut self.dropout);
        let distances = match &self.distances {
            Distances::Precomputed { training, .. } => training.distances(&index, &weights, draws),
            Distances::EndToEnd { trunk } => {
                let (images, slots) =
                    self.training_set
                        .load_distinct(self.net, batch, self.device)?;
                pair_distances(&trunk.normalised_taps(&images), &slots, &self.lins, draws)
            }
        };
        let loss = self
            .rank
            .loss(&distances, &self.training_judges.index_select(0, &index));
        let value = f32::try_from(&loss)?;
        if !value.is_finite() {
            return Ok(Step::Skipped {
                loss: value,
                reason: "the loss is not finite",
            });
        }
        loss.backward();
        if !self.adam.gradients_finite() {
            self.adam.zero_grad();
            return Ok(Step::Skipped {
                loss: value,
                reason: "a gradient is not finite",
            });
        }
        if !self.adam.step(learning_rate) {
            return Ok(Step::Skipped {
                loss: value,
                reason: "the update makes a weight non-finite",
            });
        }
        // The official `clamp_weights`: every 1×1 convolution of the LPIPS
        // network (the linear layers; the trunks have none) at min 0.
        let _no_grad = tch::no_grad_guard();
        for lin in &mut self.lins {
            let _ = lin.clamp_min_(0.0);
        }
        Ok(Step::Applied { loss: value })
    }

    /// The 2AFC scores of the training and validation sets with the current
    /// weights, dropout off.
    pub fn scores(&self) -> Result<(f64, Option<f64>), TrainingError> {
        let training = score_distances(&self.training_set, &self.set_distances(false)?)?;
        let validation = match &self.validation_set {
            Some(set) => Some(score_distances(set, &self.set_distances(true)?)?),
            None => None,
        };
        Ok((training, validation))
    }

    /// (d0, d1) of every triplet of the training set, or of the validation
    /// set (which must have been given), with the current weights, dropout
    /// off.
    pub fn distances(&self, validation: bool) -> Result<Vec<TripletDistances>, TrainingError> {
        if validation && self.validation_set.is_none() {
            return Err(TrainingError::Settings(
                "this session has no validation set".to_owned(),
            ));
        }
        let distances = self.set_distances(validation)?.to(Device::Cpu);
        let d0 = Vec::<f32>::try_from(distances.select(1, 0))?;
        let d1 = Vec::<f32>::try_from(distances.select(1, 1))?;
        Ok(d0
            .into_iter()
            .zip(d1)
            .map(|(d0, d1)| TripletDistances { d0, d1 })
            .collect())
    }

    /// Distances (N, 2) of every triplet of the training or validation set.
    fn set_distances(&self, validation: bool) -> Result<Tensor, TrainingError> {
        match &self.distances {
            Distances::Precomputed {
                training,
                validation: validation_statistics,
                ..
            } => {
                let statistics = if validation {
                    validation_statistics.as_ref().expect("validation set")
                } else {
                    training
                };
                Ok(statistics.all_distances(&self.lin_vector()))
            }
            Distances::EndToEnd { trunk } => {
                let set = if validation {
                    self.validation_set.as_ref().expect("validation set")
                } else {
                    &self.training_set
                };
                let _no_grad = tch::no_grad_guard();
                let all: Vec<usize> = (0..set.len()).collect();
                let parts = all
                    .chunks(SCORING_TRIPLETS_PER_PASS)
                    .map(|chunk| {
                        let (images, slots) = set.load_distinct(self.net, chunk, self.device)?;
                        Ok(pair_distances(
                            &trunk.normalised_taps(&images),
                            &slots,
                            &self.lins,
                            None,
                        ))
                    })
                    .collect::<Result<Vec<_>, TrainingError>>()?;
                Ok(Tensor::cat(&parts, 0))
            }
        }
    }

    /// All linear weights as one vector, in tap and channel order.
    fn lin_vector(&self) -> Tensor {
        Tensor::cat(
            &self.lins.iter().map(|l| l.view([-1])).collect::<Vec<_>>(),
            0,
        )
    }

    /// Every trained and frozen tensor by state-dict name (trunk, linear
    /// layers, and G as `rank.model.*`), copied to the CPU.
    pub fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut state = self.metric_state();
        state.extend(
            self.rank
                .parameters()
                .into_iter()
                .map(|(name, p)| (name, to_cpu(p))),
        );
        state
    }

    /// The state to resume from, with the record so far.
    pub fn checkpoint(&self, record: &TrainingRecord) -> Checkpoint {
        let (adam_steps, moments) = self.adam.state();
        Checkpoint {
            record: record.clone(),
            weights: self.parameters(),
            adam_steps,
            moments: moments
                .into_iter()
                .map(|(m, v)| (to_cpu(&m), to_cpu(&v)))
                .collect(),
        }
    }

    /// Restores the optimiser's state from a checkpoint of a session with
    /// the same net and mode.
    fn restore_optimiser(&mut self, checkpoint: &Checkpoint) -> Result<(), TrainingError> {
        let moments: Vec<(Tensor, Tensor)> = checkpoint
            .moments
            .iter()
            .map(|(m, v)| (m.to(self.device), v.to(self.device)))
            .collect();
        if self.adam.restore(checkpoint.adam_steps, &moments) {
            Ok(())
        } else {
            Err(TrainingError::Settings(
                "the checkpoint's optimiser state does not fit this net and mode".to_owned(),
            ))
        }
    }

    /// The metric as trained so far.
    pub fn metric(&self) -> TrainedMetric {
        TrainedMetric::new(self.net, self.metric_state())
    }

    fn metric_state(&self) -> Vec<(String, Tensor)> {
        let mut state: Vec<(String, Tensor)> = match &self.distances {
            Distances::Precomputed { trunk, .. } => trunk
                .iter()
                .map(|(name, t)| (name.clone(), t.shallow_clone()))
                .collect(),
            Distances::EndToEnd { trunk, .. } => trunk
                .parameters()
                .into_iter()
                .map(|(name, p)| (name, to_cpu(p)))
                .collect(),
        };
        state.extend(
            self.lins
                .iter()
                .enumerate()
                .map(|(tap, lin)| (network::lin_name(tap), to_cpu(lin))),
        );
        state
    }
}

/// Lin: keeps the frozen trunk's weights for the output and runs the sets'
/// patches through it once.
fn precompute(
    net: Net,
    device: Device,
    trunk: Trunk,
    training: &TripletSet,
    validation: Option<&TripletSet>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Distances, TrainingError> {
    let state: Vec<(String, Tensor)> = trunk
        .parameters()
        .into_iter()
        .map(|(name, p)| (name, to_cpu(p)))
        .collect();
    let extractor = Extractor::new(net, trunk, device)?;
    let training_statistics =
        PairStatistics::compute(net, training, &extractor, device, true, progress)?;
    let validation_statistics = validation
        .map(|set| PairStatistics::compute(net, set, &extractor, device, false, progress))
        .transpose()?;
    Ok(Distances::Precomputed {
        trunk: state,
        training: training_statistics,
        validation: validation_statistics,
    })
}

fn to_cpu(tensor: &Tensor) -> Tensor {
    tensor
        .detach()
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .copy()
}

/// Where training starts: fresh weights, or a checkpoint of an earlier run
/// with the same settings and data.
pub enum Start {
    Fresh(StartingWeights),
    Resume(Box<Checkpoint>),
}

/// Trains a metric on `training` with the official schedule (see the module
/// docs), scoring `validation` after every epoch. `start` is usually
/// [`StartingWeights::official`].
///
/// A non-finite loss, gradient or update stops training with
/// [`TrainingError::NonFinite`],
/// which carries the weights from before the failed step and the record so
/// far.
pub fn train(
    settings: &Settings,
    start: StartingWeights,
    training: TripletSet,
    validation: Option<TripletSet>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Trained, TrainingError> {
    train_resumable(
        settings,
        Start::Fresh(start),
        training,
        validation,
        progress,
        &mut |_| Ok(()),
    )
}

/// [`train`], handing `checkpoint` the state after every epoch (an error
/// from it stops training), and starting from a checkpoint if given: its
/// finished epochs are skipped, their shuffles replayed, so the result is
/// the one an uninterrupted run gives.
pub fn train_resumable(
    settings: &Settings,
    start: Start,
    training: TripletSet,
    validation: Option<TripletSet>,
    progress: &mut dyn FnMut(Progress),
    checkpoint: &mut dyn FnMut(&Checkpoint) -> Result<(), BoxError>,
) -> Result<Trained, TrainingError> {
    let started = Instant::now();
    settings.check()?;
    let device = settings.device.resolve()?;
    if let Some(threads) = settings.threads {
        tch::set_num_threads(i32::try_from(threads).unwrap_or(i32::MAX));
    }
    let (weights, resumed) = match start {
        Start::Fresh(weights) => (weights, None),
        Start::Resume(checkpoint) => {
            let checkpoint = *checkpoint;
            let weights = StartingWeights::from_tensors(
                "(checkpoint)",
                checkpoint
                    .weights
                    .iter()
                    .map(|(name, tensor)| (name.clone(), tensor.shallow_clone()))
                    .collect(),
            );
            (weights, Some(checkpoint))
        }
    };
    let mut session = Session::new(
        settings.net,
        settings.mode,
        device,
        weights,
        training,
        validation,
        progress,
    )?;
    let mut record = match &resumed {
        Some(checkpoint) => {
            session.restore_optimiser(checkpoint)?;
            checkpoint.record.clone()
        }
        None => {
            let (initial_train_2afc, initial_validation_2afc) = session.scores()?;
            TrainingRecord {
                settings: settings.clone(),
                device: device_name(device),
                dropout: TrainingRecord::dropout_name(settings.mode).to_owned(),
                training_triplets: training.len(),
                validation_triplets: validation.map_or(0, |v| v.len()),
                feature_seconds: (settings.mode == Mode::Lin)
                    .then(|| started.elapsed().as_secs_f64()),
                initial_train_2afc,
                initial_validation_2afc,
                epochs: Vec::new(),
                stopped: None,
                wall_seconds: 0.0,
            }
        }
    };
    let earlier_seconds = record.wall_seconds;
    let done = record.epochs.len();
    // Lin steps are a few small matrix products: intra-op threads only add
    // synchronisation, which on a busy machine costs a time slice per
    // operation (100 tiny steps took 10–35 s with 2 threads under load).
    let _threads = (settings.mode == Mode::Lin).then(OneThread::enter);
    let mut shuffler = Draws::new(settings.seed);
    let mut order: Vec<usize> = (0..training.len()).collect();
    let steps_per_epoch = order.len().div_ceil(settings.batch_size);
    let mut global_step = done * steps_per_epoch;
    for _ in 0..done {
        shuffler.shuffle(&mut order);
    }
    for epoch in done + 1..=settings.total_epochs() {
        let epoch_started = Instant::now();
        let learning_rate = settings.learning_rate_at(epoch);
        shuffler.shuffle(&mut order);
        // Each epoch's dropout draws follow from the seed and the epoch
        // alone, so a resumed run draws what an uninterrupted one would.
        session.seed_dropout(epoch_seed(settings.seed, epoch));
        let mut loss_sum = 0.0;
        for (index, batch) in order.chunks(settings.batch_size).enumerate() {
            let step = index + 1;
            global_step += 1;
            let loss = match session.step(batch, learning_rate, true)? {
                Step::Applied { loss } => loss,
                Step::Skipped { loss, reason } => {
                    record.stopped = Some(Stop {
                        epoch,
                        step,
                        global_step,
                        reason: reason.to_owned(),
                    });
                    record.wall_seconds = earlier_seconds + started.elapsed().as_secs_f64();
                    return Err(TrainingError::NonFinite {
                        reason,
                        loss,
                        epoch,
                        step,
                        global_step,
                        last_good: Box::new(Trained {
                            metric: session.metric(),
                            record,
                        }),
                    });
                }
            };
            loss_sum += f64::from(loss);
            progress(Progress::Step {
                epoch,
                step,
                steps_per_epoch,
                loss,
            });
        }
        let (train_2afc, validation_2afc) = session.scores()?;
        record.epochs.push(EpochRecord {
            epoch,
            learning_rate,
            steps: steps_per_epoch,
            loss: loss_sum / steps_per_epoch as f64,
            train_2afc,
            validation_2afc,
            seconds: epoch_started.elapsed().as_secs_f64(),
        });
        record.wall_seconds = earlier_seconds + started.elapsed().as_secs_f64();
        progress(Progress::Epoch(record.epochs.last().expect("just pushed")));
        checkpoint(&session.checkpoint(&record))
            .map_err(|source| TrainingError::Checkpoint { epoch, source })?;
    }
    record.wall_seconds = earlier_seconds + started.elapsed().as_secs_f64();
    Ok(Trained {
        metric: session.metric(),
        record,
    })
}

/// The dropout seed of 1-based `epoch`.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(epoch as u64)
}

/// libtorch's intra-op thread count set to 1 until dropped, then restored.
struct OneThread(i32);

impl OneThread {
    fn enter() -> Self {
        let previous = tch::get_num_threads();
        tch::set_num_threads(1);
        Self(previous)
    }
}

impl Drop for OneThread {
    fn drop(&mut self) {
        tch::set_num_threads(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_is_train_py_s() {
        let settings = Settings::new(Net::Alex, Mode::Lin);
        let rates: Vec<f64> = (1..=10)
            .map(|e| settings.learning_rate_at(e) / 1e-4)
            .collect();
        let expected = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2];
        for (rate, expected) in rates.iter().zip(expected) {
            assert!((rate - expected).abs() < 1e-12, "{rates:?}");
        }
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        let mut settings = Settings::new(Net::Alex, Mode::Lin);
        settings.batch_size = 0;
        assert!(settings
            .check()
            .unwrap_err()
            .to_string()
            .contains("batch size"));
        let mut settings = Settings::new(Net::Vgg, Mode::Tune);
        settings.learning_rate = f64::NAN;
        assert!(settings
            .check()
            .unwrap_err()
            .to_string()
            .contains("learning rate"));
        assert!("finetune".parse::<Mode>().is_err());
        assert_eq!("scratch".parse::<Mode>().unwrap(), Mode::Scratch);
    }
}

//! Training one network of the family: random patches of the training
//! images, degraded by the task, regressed onto the clean patches with the
//! spec's loss, optimiser, learning rate and number of steps.

use std::time::Instant;

use distortions::image::{imageops, RgbImage};
use distortions::rand_chacha::rand_core::{RngCore, SeedableRng};
use distortions::rand_chacha::ChaCha8Rng;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Reduction};

use crate::degrade::degrade;
use crate::error::{CnnError, Result};
use crate::network::Network;
use crate::pixels::to_batch;
use crate::spec::{Loss, NetworkSpec, Optimizer};

/// The reported training loss is the mean over this many last steps.
const LOSS_WINDOW: usize = 10;

pub(crate) struct Trained {
    pub vars: nn::VarStore,
    pub loss: f64,
    pub seconds: f64,
}

/// Trains `spec`'s network on random crops of `images`, each at least as
/// large as the training patches. The initialisation draws from libtorch's
/// global generator, seeded with the spec's seed; the crops and their
/// degradations from the spec's seed alone.
pub(crate) fn train(spec: &NetworkSpec, images: &[RgbImage]) -> Result<Trained> {
    let learning = &spec.learning;
    let side = learning.patch_size;
    if images.is_empty() {
        return Err(CnnError::InvalidInput(
            "no training images: give at least one".into(),
        ));
    }
    if let Some(small) = images
        .iter()
        .find(|image| image.width() < side || image.height() < side)
    {
        return Err(CnnError::InvalidInput(format!(
            "a training image is {}x{}; every one must be at least {side}x{side}",
            small.width(),
            small.height()
        )));
    }
    let started = Instant::now();
    tch::manual_seed(spec.seed as i64);
    let vars = nn::VarStore::new(Device::Cpu);
    let network = Network::new(&vars.root(), &spec.architecture);
    let rate = learning.learning_rate;
    let mut optimizer = match learning.optimizer {
        Optimizer::Adam => nn::Adam::default().build(&vars, rate)?,
        Optimizer::SgdMomentum => nn::Sgd {
            momentum: 0.9,
            ..Default::default()
        }
        .build(&vars, rate)?,
        Optimizer::RmsProp => nn::RmsProp::default().build(&vars, rate)?,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    rng.set_stream(1);
    let mut recent = Vec::with_capacity(LOSS_WINDOW);
    for step in 0..learning.iterations as usize {
        let mut targets = Vec::with_capacity(learning.batch_size as usize);
        let mut inputs = Vec::with_capacity(learning.batch_size as usize);
        for _ in 0..learning.batch_size {
            let image = &images[below(&mut rng, images.len() as u32) as usize];
            let x = below(&mut rng, image.width() - side + 1);
            let y = below(&mut rng, image.height() - side + 1);
            let target = imageops::crop_imm(image, x, y, side, side).to_image();
            inputs.push(degrade(&spec.task, &target, rng.next_u64())?);
            targets.push(target);
        }
        let output = network.forward(&to_batch(&inputs.iter().collect::<Vec<_>>(), 0), true);
        let target = to_batch(&targets.iter().collect::<Vec<_>>(), 0);
        let loss = match learning.loss {
            Loss::L1 => output.l1_loss(&target, Reduction::Mean),
            Loss::L2 => output.mse_loss(&target, Reduction::Mean),
        };
        optimizer.backward_step(&loss);
        if step + LOSS_WINDOW >= learning.iterations as usize {
            recent.push(f64::try_from(&loss)?);
        }
    }
    Ok(Trained {
        vars,
        loss: recent.iter().sum::<f64>() / recent.len() as f64,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn below(rng: &mut impl RngCore, n: u32) -> u32 {
    ((u64::from(rng.next_u32()) * u64::from(n)) >> 32) as u32
}

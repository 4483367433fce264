//! Every random draw of a training run, from the run's own seeded stream.
//!
//! libtorch has one process-wide generator (tch does not expose per-run
//! generators), so two trainings in one process (a server's job runner, the
//! test binary) drawing from it would interleave their draws and change each
//! other's results. Instead each run draws from a SplitMix64 stream of its
//! own: the initial weights, the epochs' shuffles, and the dropout (masks for
//! tune and scratch, the Gaussian draws of [`super::precomputed`] for lin),
//! made on the CPU and moved to the run's device. The same seed gives the
//! same run on any device and whatever else the process is doing.

use tch::{Device, Kind, Tensor};

/// SplitMix64 (Steele, Lea & Flood 2014): tiny state, fast, and plenty
/// random for shuffles, initialisations and dropout.
pub(crate) struct Draws(u64);

impl Draws {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1), never 0 (so its logarithm is finite).
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Fisher–Yates.
    pub(crate) fn shuffle(&mut self, items: &mut [usize]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }

    /// A float32 tensor of `shape` on the CPU, uniform in [-bound, bound).
    pub(crate) fn uniform(&mut self, shape: &[i64], bound: f64) -> Tensor {
        let values: Vec<f32> = (0..numel(shape))
            .map(|_| ((2.0 * self.unit() - 1.0) * bound) as f32)
            .collect();
        Tensor::from_slice(&values).view(shape)
    }

    /// A float32 tensor of `shape` on `device`, standard normal (Box–Muller,
    /// both values of each pair used).
    pub(crate) fn normal(&mut self, shape: &[i64], device: Device) -> Tensor {
        let count = numel(shape);
        let mut values = Vec::with_capacity(count + 1);
        while values.len() < count {
            let radius = (-2.0 * self.unit().ln()).sqrt();
            let angle = std::f64::consts::TAU * self.unit();
            values.push((radius * angle.cos()) as f32);
            values.push((radius * angle.sin()) as f32);
        }
        values.truncate(count);
        Tensor::from_slice(&values).view(shape).to(device)
    }

    /// Inverted dropout's multiplier for a tensor of `shape`, on `device`:
    /// each element independently 0 with probability ½, else 2 (what
    /// `nn.Dropout(0.5)` multiplies by in training).
    pub(crate) fn half_dropout_mask(&mut self, shape: &[i64], device: Device) -> Tensor {
        let count = numel(shape);
        let mut values = Vec::with_capacity(count + 63);
        while values.len() < count {
            let bits = self.next_u64();
            values.extend((0..64).map(|bit| if bits >> bit & 1 == 1 { 2.0f32 } else { 0.0 }));
        }
        values.truncate(count);
        Tensor::from_slice(&values)
            .view(shape)
            .to_kind(Kind::Float)
            .to(device)
    }
}

fn numel(shape: &[i64]) -> usize {
    shape.iter().product::<i64>().max(0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffles_are_permutations_fixed_by_the_seed() {
        let shuffled = |seed| {
            let mut items: Vec<usize> = (0..100).collect();
            Draws::new(seed).shuffle(&mut items);
            items
        };
        let a = shuffled(1);
        assert_eq!(a, shuffled(1));
        assert_ne!(a, shuffled(2));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn draws_have_their_distributions_and_repeat_with_the_seed() {
        let mut draws = Draws::new(7);
        let normal = draws.normal(&[200, 101], Device::Cpu);
        assert_eq!(normal.size(), [200, 101]);
        let mean = f64::try_from(normal.mean(Kind::Float)).unwrap();
        let std = f64::try_from(normal.std(true)).unwrap();
        assert!(
            mean.abs() < 0.02 && (std - 1.0).abs() < 0.02,
            "{mean} {std}"
        );
        let mask = draws.half_dropout_mask(&[10, 1000], Device::Cpu);
        let kept = f64::try_from(mask.mean(Kind::Float)).unwrap();
        assert!((kept - 1.0).abs() < 0.03, "{kept}");
        let zeros = f64::try_from(mask.eq(0.0).to_kind(Kind::Float).mean(Kind::Float)).unwrap();
        assert!((zeros - 0.5).abs() < 0.02, "{zeros}");
        let uniform = Draws::new(3).uniform(&[1000], 0.25);
        assert!(f64::try_from(uniform.abs().max()).unwrap() <= 0.25);
        assert!(uniform.equal(&Draws::new(3).uniform(&[1000], 0.25)));
    }
}

//! Scoring many comparisons between patches: 2AFC triplets and JND pairs.
//!
//! Patches are passed once, as a slice, and comparisons refer to them by
//! index. Work is cut into batches of at most `batch_size` distinct patches;
//! within a batch each patch's features are computed once, however many
//! comparisons it appears in (a triplet's reference serves both of its
//! distances), so listing comparisons that share patches next to each other
//! saves work.

use std::collections::HashMap;

use image::RgbImage;
use tch::{Device, Tensor};

use crate::dists::{to_unit_tensor, Dists, FeatureSets};
use crate::error::{LpipsError, Result};
use crate::image_input::{check_comparable, to_tensor};
use crate::model::{Features, Lpips};

/// A 2AFC triplet: which of `p0`, `p1` is closer to `reference`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Triplet {
    pub reference: usize,
    pub p0: usize,
    pub p1: usize,
}

/// A JND pair: are `p0` and `p1` the same?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair {
    pub p0: usize,
    pub p1: usize,
}

/// LPIPS distances of a triplet: d(reference, p0) and d(reference, p1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TripletDistances {
    pub d0: f32,
    pub d1: f32,
}

/// Default number of distinct patches per forward pass: past this, 64×64
/// throughput stops improving on a 2-core CPU while memory keeps growing.
pub const DEFAULT_BATCH_SIZE: usize = 96;

/// A network whose features are computed once per patch and compared
/// pairwise: LPIPS or DISTS.
pub trait Network {
    /// A batch's features, as [`Self::batch_features`] computes them.
    type Features;
    /// Where the network computes; batches are moved there and distances
    /// back to the CPU.
    fn device(&self) -> Device;
    /// Whether two images can be compared (sizes).
    fn check_comparable(&self, a: &RgbImage, b: &RgbImage) -> Result<()>;
    /// The features of a batch of same-sized images.
    fn batch_features(&self, images: &[&RgbImage]) -> Result<Self::Features>;
    /// Distances between `a[a_index[k]]` and `b[b_index[k]]`, float32.
    fn batch_distances(
        &self,
        a: &Self::Features,
        a_index: &Tensor,
        b: &Self::Features,
        b_index: &Tensor,
    ) -> Tensor;
}

impl Network for Lpips {
    type Features = Features;

    fn device(&self) -> Device {
        Lpips::device(self)
    }

    fn check_comparable(&self, a: &RgbImage, b: &RgbImage) -> Result<()> {
        check_comparable(self.net(), a, b)
    }

    fn batch_features(&self, images: &[&RgbImage]) -> Result<Features> {
        Ok(self.features(&to_tensor(images)?))
    }

    fn batch_distances(
        &self,
        a: &Features,
        a_index: &Tensor,
        b: &Features,
        b_index: &Tensor,
    ) -> Tensor {
        self.distances(a, a_index, b, b_index)
    }
}

impl Network for Dists {
    type Features = FeatureSets;

    fn device(&self) -> Device {
        Dists::device(self)
    }

    fn check_comparable(&self, a: &RgbImage, b: &RgbImage) -> Result<()> {
        Dists::check_comparable(a, b)
    }

    fn batch_features(&self, images: &[&RgbImage]) -> Result<FeatureSets> {
        Ok(self.features(&to_unit_tensor(images)?))
    }

    fn batch_distances(
        &self,
        a: &FeatureSets,
        a_index: &Tensor,
        b: &FeatureSets,
        b_index: &Tensor,
    ) -> Tensor {
        self.distances(a, a_index, b, b_index)
    }
}

/// Scores triplets and pairs with one model (LPIPS unless said otherwise).
pub struct Scorer<M = Lpips> {
    model: M,
    batch_size: usize,
}

impl Scorer {
    /// Sets libtorch's intra-op thread count. This is process-wide: it
    /// affects every model in the process.
    pub fn set_threads(threads: usize) {
        tch::set_num_threads(i32::try_from(threads.max(1)).unwrap_or(i32::MAX));
    }
}

impl<M: Network> Scorer<M> {
    pub fn new(model: M) -> Self {
        Self {
            model,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }

    /// Distinct patches per forward pass (at least 2, so any comparison fits).
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(2);
        self
    }

    pub fn model(&self) -> &M {
        &self.model
    }

    /// (d0, d1) for each triplet, in order.
    pub fn score_triplets(
        &self,
        patches: &[RgbImage],
        triplets: &[Triplet],
    ) -> Result<Vec<TripletDistances>> {
        let comparisons: Vec<(usize, usize)> = triplets
            .iter()
            .flat_map(|t| [(t.reference, t.p0), (t.reference, t.p1)])
            .collect();
        let distances = self.score_comparisons(patches, &comparisons)?;
        Ok(distances
            .chunks_exact(2)
            .map(|d| TripletDistances { d0: d[0], d1: d[1] })
            .collect())
    }

    /// d(p0, p1) for each pair, in order.
    pub fn score_pairs(&self, patches: &[RgbImage], pairs: &[Pair]) -> Result<Vec<f32>> {
        let comparisons: Vec<(usize, usize)> = pairs.iter().map(|p| (p.p0, p.p1)).collect();
        self.score_comparisons(patches, &comparisons)
    }

    /// d(patches[a], patches[b]) for each (a, b). Everything is validated
    /// before any work starts.
    pub fn score_comparisons(
        &self,
        patches: &[RgbImage],
        comparisons: &[(usize, usize)],
    ) -> Result<Vec<f32>> {
        let patch = |index: usize| {
            patches.get(index).ok_or(LpipsError::PatchIndex {
                index,
                count: patches.len(),
            })
        };
        for &(a, b) in comparisons {
            self.model.check_comparable(patch(a)?, patch(b)?)?;
        }
        let mut distances = Vec::with_capacity(comparisons.len());
        for batch in self.batches(patches, comparisons) {
            let images: Vec<&RgbImage> =
                batch.patches.iter().map(|&index| &patches[index]).collect();
            let features = self.model.batch_features(&images)?;
            let device = self.model.device();
            let a_index = Tensor::from_slice(&batch.a_slots).to(device);
            let b_index = Tensor::from_slice(&batch.b_slots).to(device);
            let batch_distances = self
                .model
                .batch_distances(&features, &a_index, &features, &b_index);
            distances.extend(Vec::<f32>::try_from(batch_distances.to(Device::Cpu))?);
        }
        Ok(distances)
    }

    /// Consecutive runs of comparisons whose distinct patches (all of one
    /// size) number at most `batch_size`.
    fn batches(&self, patches: &[RgbImage], comparisons: &[(usize, usize)]) -> Vec<Batch> {
        let mut batches = Vec::new();
        let mut current = Batch::default();
        for &(a, b) in comparisons {
            let new_patches = usize::from(!current.slot_of.contains_key(&a))
                + usize::from(b != a && !current.slot_of.contains_key(&b));
            let size_changes = current
                .patches
                .first()
                .is_some_and(|&first| patches[first].dimensions() != patches[a].dimensions());
            if size_changes || current.patches.len() + new_patches > self.batch_size {
                batches.push(std::mem::take(&mut current));
            }
            let a_slot = current.slot(a);
            let b_slot = current.slot(b);
            current.a_slots.push(a_slot);
            current.b_slots.push(b_slot);
        }
        if !current.patches.is_empty() {
            batches.push(current);
        }
        batches
    }
}

/// Comparisons of one forward pass: the distinct patches, and for each
/// comparison the positions of its two patches among them.
#[derive(Default)]
struct Batch {
    patches: Vec<usize>,
    slot_of: HashMap<usize, i64>,
    a_slots: Vec<i64>,
    b_slots: Vec<i64>,
}

impl Batch {
    fn slot(&mut self, patch: usize) -> i64 {
        *self.slot_of.entry(patch).or_insert_with(|| {
            self.patches.push(patch);
            (self.patches.len() - 1) as i64
        })
    }
}

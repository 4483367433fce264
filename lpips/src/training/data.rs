//! Training data: judged 2AFC triplets over patches that are read on demand.
//!
//! Patches come from a [`PatchSource`] (memory, a BAPPS folder, a database's
//! patch store) one batch at a time, so a training set as large as BAPPS'
//! (151k triplets, 450k patches) never needs to be in memory as images.

use std::borrow::Cow;
use std::collections::HashMap;

use image::RgbImage;
use tch::{Device, Tensor};

use crate::backbone::Net;
use crate::image_input::{check_comparable, to_tensor};
use crate::scoring::Triplet;
use crate::training::error::{BoxError, TrainingError};

/// Where a training set's patches come from, by index.
pub trait PatchSource {
    /// Number of patches; triplets index below it.
    fn patch_count(&self) -> usize;
    /// Patch `index` (< [`Self::patch_count`]).
    fn patch(&self, index: usize) -> Result<Cow<'_, RgbImage>, BoxError>;
    /// Patches `indices`, in that order: what training asks for, a batch at
    /// a time. Sources with a cost per request (a database) fetch them in
    /// one.
    fn patches(&self, indices: &[usize]) -> Result<Vec<Cow<'_, RgbImage>>, BoxError> {
        indices.iter().map(|&index| self.patch(index)).collect()
    }
}

/// Patches in memory.
impl PatchSource for Vec<RgbImage> {
    fn patch_count(&self) -> usize {
        self.len()
    }

    fn patch(&self, index: usize) -> Result<Cow<'_, RgbImage>, BoxError> {
        Ok(Cow::Borrowed(&self[index]))
    }
}

/// A 2AFC triplet with its human judgment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JudgedTriplet {
    pub triplet: Triplet,
    /// The share of judgments preferring `p1` (closer to the reference), in
    /// [0, 1]: BAPPS' `judge` value.
    pub judge: f32,
}

/// Judged triplets and the patches they index.
#[derive(Clone, Copy)]
pub struct TripletSet<'a> {
    pub patches: &'a dyn PatchSource,
    pub triplets: &'a [JudgedTriplet],
}

impl<'a> TripletSet<'a> {
    pub fn new(patches: &'a dyn PatchSource, triplets: &'a [JudgedTriplet]) -> Self {
        Self { patches, triplets }
    }

    pub fn len(&self) -> usize {
        self.triplets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.triplets.is_empty()
    }

    /// Checks what can be checked without reading patches: at least one
    /// triplet, judges in [0, 1], patch indices in range. `role` ("training",
    /// "validation") names the set in errors.
    pub(crate) fn check(&self, role: &'static str) -> Result<(), TrainingError> {
        if self.triplets.is_empty() {
            return Err(TrainingError::NoTriplets { role });
        }
        let count = self.patches.patch_count();
        for (index, judged) in self.triplets.iter().enumerate() {
            if !(0.0..=1.0).contains(&judged.judge) {
                return Err(TrainingError::BadJudge {
                    role,
                    index,
                    judge: judged.judge,
                });
            }
            let Triplet { reference, p0, p1 } = judged.triplet;
            if let Some(&patch) = [reference, p0, p1].iter().find(|&&p| p >= count) {
                return Err(TrainingError::PatchIndex {
                    role,
                    index,
                    patch,
                    count,
                });
            }
        }
        Ok(())
    }

    /// Every triplet's judge, as a float32 tensor.
    pub(crate) fn judges(&self, device: Device) -> Tensor {
        let judges: Vec<f32> = self.triplets.iter().map(|t| t.judge).collect();
        Tensor::from_slice(&judges).to(device)
    }

    /// The distinct patches of `triplets` as one (P, 3, H, W) batch on
    /// `device`, and for each triplet the positions of its reference, p0 and
    /// p1 in that batch.
    pub(crate) fn load_distinct(
        &self,
        net: Net,
        triplets: &[usize],
        device: Device,
    ) -> Result<(Tensor, [Tensor; 3]), TrainingError> {
        let mut position: HashMap<usize, i64> = HashMap::new();
        let mut order = Vec::new();
        let mut slots = [Vec::new(), Vec::new(), Vec::new()];
        for &t in triplets {
            let Triplet { reference, p0, p1 } = self.triplets[t].triplet;
            for (slot, patch) in slots.iter_mut().zip([reference, p0, p1]) {
                let next = order.len() as i64;
                let at = *position.entry(patch).or_insert_with(|| {
                    order.push(patch);
                    next
                });
                slot.push(at);
            }
        }
        let images = self.load(net, &order)?.to(device);
        Ok((images, slots.map(|s| Tensor::from_slice(&s).to(device))))
    }

    fn load(&self, net: Net, patches: &[usize]) -> Result<Tensor, TrainingError> {
        let images = self
            .patches
            .patches(patches)
            .map_err(|source| TrainingError::Patch { source })?;
        let refs: Vec<&RgbImage> = images.iter().map(|i| i.as_ref()).collect();
        check_comparable(net, refs[0], refs[0])?;
        Ok(to_tensor(&refs)?)
    }
}

/// The official 2AFC score: per triplet `(d0<d1)(1−h) + (d1<d0)h +
/// (d0=d1)/2`, averaged.
pub fn score_2afc(d0: &[f32], d1: &[f32], judges: &[f32]) -> f64 {
    let total: f64 = d0
        .iter()
        .zip(d1)
        .zip(judges)
        .map(|((&d0, &d1), &h)| {
            let h = f64::from(h);
            if d0 < d1 {
                1.0 - h
            } else if d1 < d0 {
                h
            } else {
                0.5
            }
        })
        .sum();
    total / judges.len().max(1) as f64
}

/// The 2AFC score of a set from its (N, 2) distances.
pub(crate) fn score_distances(set: &TripletSet, distances: &Tensor) -> Result<f64, TrainingError> {
    let d0 = Vec::<f32>::try_from(distances.select(1, 0).to(Device::Cpu))?;
    let d1 = Vec::<f32>::try_from(distances.select(1, 1).to(Device::Cpu))?;
    let judges: Vec<f32> = set.triplets.iter().map(|t| t.judge).collect();
    Ok(score_2afc(&d0, &d1, &judges))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_follows_the_official_formula() {
        // p0 closer with h = 0.25 scores 0.75; p1 closer with h = 0.25 scores
        // 0.25; a tie scores 0.5.
        let score = score_2afc(&[0.1, 0.3, 0.2], &[0.2, 0.1, 0.2], &[0.25, 0.25, 0.9]);
        assert!((score - (0.75 + 0.25 + 0.5) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn bad_judges_and_indices_are_named() {
        let patches = vec![RgbImage::new(64, 64); 3];
        let triplet = Triplet {
            reference: 0,
            p0: 1,
            p1: 2,
        };
        let judged = |judge| JudgedTriplet { triplet, judge };
        let bad_judge = [judged(0.5), judged(1.5)];
        let error = TripletSet::new(&patches, &bad_judge)
            .check("training")
            .unwrap_err();
        assert!(error.to_string().contains("triplet 1"), "{error}");
        let out_of_range = [JudgedTriplet {
            triplet: Triplet { p1: 3, ..triplet },
            judge: 0.5,
        }];
        let error = TripletSet::new(&patches, &out_of_range)
            .check("validation")
            .unwrap_err();
        assert!(error.to_string().contains("patch 3"), "{error}");
        let error = TripletSet::new(&patches, &[])
            .check("training")
            .unwrap_err();
        assert!(
            error.to_string().contains("no training triplets"),
            "{error}"
        );
    }
}

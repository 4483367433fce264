//! Stimuli for 2AFC trials (patches cut from reference images and two
//! distorted versions of each) and JND trials (one distorted version), every
//! one reproducible from the experiment's seed, the stored crop, pipelines
//! and seeds.

pub mod image_decoding;
mod method_triplet;
mod pair;
mod png;
mod reference_image;
mod sampler_settings;
mod triplet;

pub use method_triplet::{generate_method_triplets, method_pairs, patch_variance, MethodOutput};
pub use pair::{PairPlan, PairStimulus};
pub use png::{encode_png, encode_stimulus_png};
pub use reference_image::ReferenceImage;
pub use sampler_settings::SamplerSettings;
pub use triplet::{
    crop, render_cnn, DistortedPatch, Distorter, DistortionPlan, PatchDistortion, TripletPlan,
    TripletStimulus,
};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::error::Result;

/// Renders `plans` on `threads` threads (this one among them), each taking
/// the next plan as it becomes free, so a thread slowed by other work on its
/// core leaves more plans to the others; the result is in the plans' order.
/// Plans hold everything random, so it does not depend on how many threads
/// render them, or which.
pub fn render_in_parallel<P: Send, S: Send>(
    plans: Vec<P>,
    threads: usize,
    render: impl Fn(P) -> Result<S> + Sync,
) -> Result<Vec<S>> {
    let count = plans.len();
    let plans: Vec<Mutex<Option<P>>> = plans
        .into_iter()
        .map(|plan| Mutex::new(Some(plan)))
        .collect();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let work = || -> Result<Vec<(usize, S)>> {
        let mut rendered = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = plans.get(index) else { break };
            let plan = slot
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .take()
                .expect("each plan is taken once");
            match render(plan) {
                Ok(stimulus) => rendered.push((index, stimulus)),
                Err(error) => {
                    failed.store(true, Ordering::Relaxed);
                    return Err(error);
                }
            }
        }
        Ok(rendered)
    };
    let parts = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads.min(count))
            .map(|_| scope.spawn(&work))
            .collect();
        let mut parts = vec![work()];
        for helper in helpers {
            parts.push(
                helper
                    .join()
                    .map_err(|_| anyhow::anyhow!("a stimulus rendering thread panicked"))?,
            );
        }
        Ok::<_, crate::error::Error>(parts)
    })?;
    let mut in_order: Vec<Option<S>> = (0..count).map(|_| None).collect();
    for part in parts {
        for (index, stimulus) in part? {
            in_order[index] = Some(stimulus);
        }
    }
    Ok(in_order
        .into_iter()
        .map(|stimulus| stimulus.expect("every plan is rendered"))
        .collect())
}

/// The two kinds of stimuli: what judgments, tallies and scores are of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StimulusKind {
    /// A reference patch and two distorted versions (2AFC).
    Triplet,
    /// A reference patch and one distorted version (JND).
    Pair,
}

impl StimulusKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StimulusKind::Triplet => "triplet",
            StimulusKind::Pair => "pair",
        }
    }
}

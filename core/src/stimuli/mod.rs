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
pub use png::encode_png;
pub use reference_image::ReferenceImage;
pub use sampler_settings::SamplerSettings;
pub use triplet::{
    crop, render_cnn, DistortedPatch, Distorter, DistortionPlan, PatchDistortion, TripletPlan,
    TripletStimulus,
};

use crate::error::Result;

/// Renders `plans` in order on `threads` threads (contiguous chunks, one a
/// thread): plans hold everything random, so the result does not depend on
/// how many threads render them.
pub fn render_in_parallel<P: Send, S: Send>(
    plans: Vec<P>,
    threads: usize,
    render: impl Fn(P) -> Result<S> + Sync,
) -> Result<Vec<S>> {
    let chunk = plans.len().div_ceil(threads.max(1)).max(1);
    let mut plans = plans.into_iter();
    let chunks: Vec<Vec<P>> = std::iter::from_fn(|| {
        let next: Vec<P> = plans.by_ref().take(chunk).collect();
        (!next.is_empty()).then_some(next)
    })
    .collect();
    let render = &render;
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || chunk.into_iter().map(render).collect::<Result<Vec<S>>>())
            })
            .collect();
        let mut rendered = Vec::new();
        for handle in handles {
            let part = handle
                .join()
                .map_err(|_| anyhow::anyhow!("a stimulus rendering thread panicked"))??;
            rendered.extend(part);
        }
        Ok(rendered)
    })
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

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
pub use pair::PairStimulus;
pub use png::encode_png;
pub use reference_image::ReferenceImage;
pub use sampler_settings::SamplerSettings;
pub use triplet::{crop, DistortedPatch, TripletStimulus};

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

//! Stimuli for 2AFC trials (patches cut from reference images and two
//! distorted versions of each) and JND trials (one distorted version), every
//! one reproducible from the experiment's seed, the stored crop, pipelines
//! and seeds.

mod image_decoding;
mod pair;
mod png;
mod reference_image;
mod sampler_settings;
mod triplet;

pub use pair::PairStimulus;
pub use png::encode_png;
pub use reference_image::ReferenceImage;
pub use sampler_settings::SamplerSettings;
pub use triplet::{crop, DistortedPatch, TripletStimulus};

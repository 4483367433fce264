//! Method comparisons: a 2AFC experiment whose triplets are cut from real
//! algorithms' outputs (`references/NAME.ext` and
//! `methods/<method>/NAME.ext`) instead of generated distortions.
//!
//! The whole tree is checked before anything is stored: every method has
//! exactly one output per reference (same file stem), each decodes and has
//! its reference's size. A refusal names the file.

use std::collections::{BTreeMap, BTreeSet};

use distortions::image::RgbImage;

use crate::error::{Error, Result};
use crate::stimuli::image_decoding::{decode_rgb8, MAX_SIDE};
use crate::stimuli::{method_pairs, ReferenceImage};

/// What makes a 2AFC experiment a method comparison.
pub struct MethodComparison {
    /// Pairs of methods per patch; `None`: all pairs.
    pub pairs_per_patch: Option<u32>,
    /// Patches whose reference gray levels vary less are skipped.
    pub min_patch_variance: Option<f64>,
    pub outputs: Vec<MethodOutputFile>,
}

/// One method's output for one reference, as uploaded.
pub struct MethodOutputFile {
    pub method: String,
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// The checked outputs: the methods (sorted) and, per reference in the
/// references' order, each method's output in that order.
pub(crate) struct CheckedOutputs {
    pub methods: Vec<String>,
    pub per_reference: Vec<Vec<(String, RgbImage)>>,
}

/// A file's name without its extension: what pairs outputs with references.
fn stem(file_name: &str) -> &str {
    file_name
        .rsplit_once('.')
        .map_or(file_name, |(stem, _)| stem)
}

fn valid_method_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl MethodComparison {
    /// Checks the design and the tree against the decoded references.
    pub(crate) fn check(&self, references: &[ReferenceImage]) -> Result<CheckedOutputs> {
        let invalid = |message: String| Err(Error::Invalid(message));
        let mut by_stem: BTreeMap<&str, usize> = BTreeMap::new();
        for (index, reference) in references.iter().enumerate() {
            if let Some(other) = by_stem.insert(stem(&reference.file_name), index) {
                return invalid(format!(
                    "references/{} and references/{} have the same name: outputs are matched to \
                     references by name without extension",
                    references[other].file_name, reference.file_name
                ));
            }
        }
        let methods: BTreeSet<&str> = self.outputs.iter().map(|o| o.method.as_str()).collect();
        for method in &methods {
            if !valid_method_name(method) {
                return invalid(format!(
                    "method name {method:?}: use 1–64 letters, digits, '-', '_' or '.'"
                ));
            }
        }
        if methods.len() < 2 {
            return invalid(format!(
                "a method comparison needs at least two methods (folders under methods/), not {}",
                methods.len()
            ));
        }
        let pairs = method_pairs(methods.len()).len();
        if let Some(k) = self.pairs_per_patch {
            if k == 0 || k as usize > pairs {
                return invalid(format!(
                    "pairs per patch must be between 1 and {pairs} (the pairs of {} methods), not {k}",
                    methods.len()
                ));
            }
        }
        if let Some(variance) = self.min_patch_variance {
            if !(variance >= 0.0 && variance.is_finite()) {
                return invalid(format!(
                    "the minimum patch variance must be a number ≥ 0, not {variance}"
                ));
            }
        }
        let methods: Vec<String> = methods.into_iter().map(str::to_owned).collect();
        let mut found: Vec<Vec<Option<(String, RgbImage)>>> =
            vec![(0..methods.len()).map(|_| None).collect(); references.len()];
        for output in &self.outputs {
            let path = format!("methods/{}/{}", output.method, output.file_name);
            let Some(&reference) = by_stem.get(stem(&output.file_name)) else {
                return invalid(format!(
                    "{path} has no reference of the same name under references/"
                ));
            };
            let method = methods
                .binary_search(&output.method)
                .expect("collected from the outputs");
            if let Some((earlier, _)) = &found[reference][method] {
                return invalid(format!(
                    "methods/{}/{earlier} and {path} are both outputs for references/{}",
                    output.method, references[reference].file_name
                ));
            }
            let image = decode_rgb8(&output.bytes).map_err(|error| {
                Error::Invalid(format!(
                    "{path} cannot be decoded (PNG or JPEG of at most {MAX_SIDE}×{MAX_SIDE} \
                     pixels): {error}"
                ))
            })?;
            let expected = references[reference].image.dimensions();
            if image.dimensions() != expected {
                return invalid(format!(
                    "{path} is {}×{} but references/{} is {}×{}: a method's output must have its \
                     reference's size",
                    image.width(),
                    image.height(),
                    references[reference].file_name,
                    expected.0,
                    expected.1
                ));
            }
            found[reference][method] = Some((output.file_name.clone(), image));
        }
        let per_reference = found
            .into_iter()
            .enumerate()
            .map(|(reference, outputs)| {
                outputs
                    .into_iter()
                    .zip(&methods)
                    .map(|(output, method)| {
                        output.ok_or_else(|| {
                            Error::Invalid(format!(
                                "methods/{method}/ has no output for references/{} (every method \
                                 needs one per reference, with the same name)",
                                references[reference].file_name
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(CheckedOutputs {
            methods,
            per_reference,
        })
    }

    /// Triplets per patch.
    pub(crate) fn triplets_per_patch(&self, methods: usize) -> u64 {
        self.pairs_per_patch
            .map_or(method_pairs(methods).len() as u64, u64::from)
    }
}

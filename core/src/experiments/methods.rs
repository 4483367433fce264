//! Method comparisons: a 2AFC experiment whose triplets are cut from real
//! algorithms' outputs (`references/NAME.ext` and
//! `methods/<method>/NAME.ext`) instead of generated distortions.
//!
//! The whole tree is checked before anything is stored: every method has
//! exactly one output per reference (same file stem), each decodes and has
//! its reference's size, or, for a method with a declared scale (`×F`),
//! that size divided by F, and is then enlarged F times by pixel
//! replication (so that no interpolation of ours is judged as the method's
//! work). A refusal names the file.
//!
//! Anchors are traditional distortion pipelines (the catalogue's JSON, as
//! `percept distort apply` takes it) applied to each whole reference and
//! entered as one more method, so that a ranking has a known reference
//! point (say a JPEG at quality 30).

use std::collections::{BTreeMap, BTreeSet};

use distortions::image::{imageops, RgbImage};
use distortions::Pipeline;

use crate::error::{Error, Result};
use crate::stimuli::image_decoding::{decode_rgb8, MAX_SIDE};
use crate::stimuli::{method_pairs, ReferenceImage};

use super::ReferenceFile;

/// What makes a 2AFC experiment a method comparison.
#[derive(Default)]
pub struct MethodComparison {
    /// Pairs of methods per patch; `None`: all pairs.
    pub pairs_per_patch: Option<u32>,
    /// Patches whose reference gray levels vary less are skipped.
    pub min_patch_variance: Option<f64>,
    pub outputs: Vec<MethodOutputFile>,
    /// Declared scales: the method's outputs are its references' size
    /// divided by the factor, and are enlarged by it.
    pub scales: BTreeMap<String, u32>,
    /// Traditional pipelines entered as extra methods.
    pub anchors: Vec<Anchor>,
}

/// A named traditional pipeline entered as a method.
#[derive(Debug, Clone)]
pub struct Anchor {
    pub name: String,
    pub pipeline: Pipeline,
}

/// Seed of every anchor's pipeline: the anchor of one pipeline is the same
/// image in every experiment.
pub const ANCHOR_SEED: u64 = 0;

/// The largest declared scale.
pub const MAX_METHOD_SCALE: u32 = 16;

impl Anchor {
    /// `NAME=SPEC`, SPEC a pipeline's JSON (`[{"type":"jpeg","quality":30}]`).
    pub fn parse(text: &str) -> Result<Anchor> {
        let (name, spec) = text.split_once('=').ok_or_else(|| {
            Error::Invalid(format!(
                "anchor {text:?}: write NAME=SPEC, e.g. jpeg-q30='[{{\"type\":\"jpeg\",\"quality\":30}}]'"
            ))
        })?;
        if !valid_method_name(name) {
            return Err(Error::Invalid(format!(
                "anchor name {name:?}: use 1–64 letters, digits, '-', '_' or '.'"
            )));
        }
        let pipeline = Pipeline::from_json(spec).map_err(|error| {
            Error::Invalid(format!(
                "anchor {name}: {error} (a pipeline as `percept distort list` describes, e.g.                  [{{\"type\":\"jpeg\",\"quality\":30}}])"
            ))
        })?;
        Ok(Anchor {
            name: name.to_owned(),
            pipeline,
        })
    }
}

/// `METHOD=FACTOR`, as `--method-scale` takes it.
pub fn parse_method_scale(text: &str) -> Result<(String, u32)> {
    let refused = || {
        Error::Invalid(format!(
            "method scale {text:?}: write METHOD=FACTOR with a whole factor from 2 to \
             {MAX_METHOD_SCALE}, e.g. superres-x4=4"
        ))
    };
    let (method, factor) = text.split_once('=').ok_or_else(refused)?;
    let factor: u32 = factor.trim().parse().map_err(|_| refused())?;
    if !(2..=MAX_METHOD_SCALE).contains(&factor) || !valid_method_name(method) {
        return Err(refused());
    }
    Ok((method.to_owned(), factor))
}

/// One method's output for one reference, as uploaded.
pub struct MethodOutputFile {
    pub method: String,
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// The checked outputs: the methods (sorted) and, per reference in the
/// references' order, each method's output in that order with its file's
/// name (`None` for an anchor's, which has no file).
pub(crate) struct CheckedOutputs {
    pub methods: Vec<String>,
    pub per_reference: Vec<Vec<(Option<String>, RgbImage)>>,
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
        let folders: BTreeSet<&str> = self.outputs.iter().map(|o| o.method.as_str()).collect();
        for anchor in &self.anchors {
            if folders.contains(anchor.name.as_str()) {
                return invalid(format!(
                    "anchor {} has the name of the folder methods/{}/: give it another",
                    anchor.name, anchor.name
                ));
            }
        }
        for (method, factor) in &self.scales {
            if !folders.contains(method.as_str()) {
                return invalid(format!(
                    "a scale is declared for method {method}, but methods/ has no folder {method}/ \
                     (methods: {})",
                    folders.iter().copied().collect::<Vec<_>>().join(", ")
                ));
            }
            if !(2..=MAX_METHOD_SCALE).contains(factor) {
                return invalid(format!(
                    "the scale of method {method} must be a whole factor from 2 to \
                     {MAX_METHOD_SCALE}, not {factor}"
                ));
            }
        }
        let mut methods = folders.clone();
        if let Some(twice) = self
            .anchors
            .iter()
            .enumerate()
            .find(|(i, a)| self.anchors[..*i].iter().any(|b| b.name == a.name))
        {
            return invalid(format!("anchor {} is given twice", twice.1.name));
        }
        methods.extend(self.anchors.iter().map(|a| a.name.as_str()));
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
        let mut found: Vec<Vec<Option<(Option<String>, RgbImage)>>> =
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
            if let Some((Some(earlier), _)) = &found[reference][method] {
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
            let full = references[reference].image.dimensions();
            let image = match self.scales.get(&output.method) {
                None if image.dimensions() == full => image,
                None => {
                    return invalid(format!(
                        "{path} is {}×{} but references/{} is {}×{}: a method's output must have \
                         its reference's size, or declare its scale (--method-scale {}=FACTOR \
                         for outputs FACTOR times smaller)",
                        image.width(),
                        image.height(),
                        references[reference].file_name,
                        full.0,
                        full.1,
                        output.method,
                    ))
                }
                Some(&factor) => {
                    if full.0 % factor != 0 || full.1 % factor != 0 {
                        return invalid(format!(
                            "references/{} is {}×{}, which a scale of {factor} (method {}) does \
                             not divide: crop the references to multiples of {factor}",
                            references[reference].file_name, full.0, full.1, output.method
                        ));
                    }
                    let expected = (full.0 / factor, full.1 / factor);
                    if image.dimensions() != expected {
                        return invalid(format!(
                            "{path} is {}×{} but method {} declares a scale of {factor}: its \
                             output for references/{} ({}×{}) must be {}×{}",
                            image.width(),
                            image.height(),
                            output.method,
                            references[reference].file_name,
                            full.0,
                            full.1,
                            expected.0,
                            expected.1
                        ));
                    }
                    imageops::resize(&image, full.0, full.1, imageops::FilterType::Nearest)
                }
            };
            found[reference][method] = Some((Some(output.file_name.clone()), image));
        }
        for anchor in &self.anchors {
            let method = methods
                .binary_search(&anchor.name)
                .expect("anchors are among the methods");
            for (reference, outputs) in references.iter().zip(&mut found) {
                let image = anchor
                    .pipeline
                    .apply(&reference.image, ANCHOR_SEED)
                    .map_err(|error| {
                        Error::Invalid(format!(
                            "anchor {} on references/{}: {error}",
                            anchor.name, reference.file_name
                        ))
                    })?;
                outputs[method] = Some((None, image));
            }
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

    /// What the experiment records of its anchors (its `anchors` column):
    /// each anchor's pipeline and seed by name; `None` without anchors.
    pub(crate) fn anchor_specs(&self) -> Option<serde_json::Value> {
        (!self.anchors.is_empty()).then(|| {
            self.anchors
                .iter()
                .map(|anchor| {
                    let spec = serde_json::json!({
                        "pipeline": anchor.pipeline,
                        "seed": ANCHOR_SEED,
                    });
                    (anchor.name.clone(), spec)
                })
                .collect::<serde_json::Map<_, _>>()
                .into()
        })
    }

    /// The methods' count: the folders under `methods/` and the anchors.
    pub(crate) fn method_count(&self) -> usize {
        let folders: BTreeSet<&str> = self.outputs.iter().map(|o| o.method.as_str()).collect();
        folders.len() + self.anchors.len()
    }

    /// Triplets per patch.
    pub(crate) fn triplets_per_patch(&self, methods: usize) -> u64 {
        self.pairs_per_patch
            .map_or(method_pairs(methods).len() as u64, u64::from)
    }
}

/// A method comparison's tree from its files' relative paths (`/`
/// separators), however it arrived: a folder (the CLI), an archive or a
/// folder upload (the dashboard). One top folder around everything (an
/// archive of `sr-study/`) is looked through. What the operating system
/// adds on its own (hidden files such as `.DS_Store` and `._photo.png`,
/// and the `__MACOSX/` folder of a zip made on a Mac) is left out, as the
/// CLI's image folders do; anything else that does not belong is refused,
/// naming the file.
pub fn tree_from_files(
    mut files: Vec<(String, Vec<u8>)>,
) -> Result<(Vec<ReferenceFile>, Vec<MethodOutputFile>)> {
    let invalid = |message: String| Err(Error::Invalid(message));
    for (path, _) in &mut files {
        let trimmed = path.trim_start_matches("./").to_owned();
        *path = trimmed;
    }
    files.retain(|(path, _)| !is_system_file(path));
    for (path, _) in &files {
        if path.starts_with('/') || path.split('/').any(|part| part == ".." || part.is_empty()) {
            return invalid(format!(
                "{path}: file paths must be relative and plain (no '..', no leading '/')"
            ));
        }
    }
    let top = |path: &str| path.split('/').next().unwrap_or_default().to_owned();
    if let Some((first, _)) = files.first() {
        let wrapper = top(first);
        if wrapper != "references"
            && wrapper != "methods"
            && files
                .iter()
                .all(|(path, _)| path.contains('/') && top(path) == wrapper)
        {
            for (path, _) in &mut files {
                *path = path[wrapper.len() + 1..].to_owned();
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let (mut references, mut outputs) = (Vec::new(), Vec::new());
    for (path, bytes) in files {
        let parts: Vec<&str> = path.split('/').collect();
        match parts[..] {
            ["references", file_name] => references.push(ReferenceFile {
                file_name: file_name.to_owned(),
                bytes,
            }),
            ["methods", method, file_name] => outputs.push(MethodOutputFile {
                method: method.to_owned(),
                file_name: file_name.to_owned(),
                bytes,
            }),
            ["methods", _] => {
                return invalid(format!(
                    "{path} is not a folder: methods/ holds one folder per method"
                ))
            }
            ["references" | "methods", ..] => {
                return invalid(format!(
                    "{path} is too deep: a method comparison's folders hold only images \
                     (references/NAME and methods/<method>/NAME)"
                ))
            }
            _ => {
                return invalid(format!(
                    "{path} does not belong in a method comparison: the folder holds references/ \
                     and methods/<method>/ only"
                ))
            }
        }
    }
    if references.is_empty() {
        return invalid(
            "references/ is missing or empty: a method comparison needs references/NAME and \
             methods/<method>/NAME"
                .into(),
        );
    }
    if outputs.is_empty() {
        return invalid(
            "methods/ is missing or empty: a method comparison needs a folder of outputs per \
             method under methods/"
                .into(),
        );
    }
    Ok((references, outputs))
}

/// A file the operating system made, not the researcher: a hidden file or
/// folder (`.DS_Store`, `._photo.png`) or a Mac zip's `__MACOSX/`.
fn is_system_file(path: &str) -> bool {
    path.split('/')
        .any(|part| part.starts_with('.') || part == "__MACOSX")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> (String, Vec<u8>) {
        (path.to_owned(), vec![1, 2, 3])
    }

    #[test]
    fn files_the_system_made_are_left_out_and_a_stray_file_is_still_refused() {
        let (references, outputs) = tree_from_files(vec![
            file("study/references/a.png"),
            file("study/references/.DS_Store"),
            file("study/methods/ours/a.png"),
            file("study/methods/ours/._a.png"),
            file("__MACOSX/study/methods/ours/._a.png"),
            file("study/.git/config"),
        ])
        .unwrap();
        assert_eq!(
            references
                .iter()
                .map(|r| r.file_name.as_str())
                .collect::<Vec<_>>(),
            ["a.png"]
        );
        assert_eq!(
            outputs
                .iter()
                .map(|o| (o.method.as_str(), o.file_name.as_str()))
                .collect::<Vec<_>>(),
            [("ours", "a.png")]
        );
        let Err(refused) = tree_from_files(vec![
            file("references/a.png"),
            file("methods/ours/a.png"),
            file("notes.txt"),
        ]) else {
            panic!("a stray notes.txt was taken");
        };
        let refused = refused.to_string();
        assert!(refused.contains("notes.txt"), "{refused}");
    }
}

//! A method comparison uploaded to `POST /api/experiments`: its tree
//! (`references/` and `methods/<method>/`) as one `.zip` or `.tar.gz`
//! archive, or as a folder upload whose files carry their relative paths,
//! and its design as a `method_settings` JSON part. The files then go
//! through the same checks as the CLI's folder
//! ([`crate::experiments::methods::tree_from_files`]), so the refusals name
//! the same files.

use std::collections::BTreeMap;
use std::io::Read;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::experiments::{parse_method_scale, Anchor, MethodComparison};

/// What an archive may unpack to: a few times the upload cap, against
/// archives that unpack to far more than they weigh.
pub const MAX_UNPACKED_BYTES: u64 = 4 * super::experiments::MAX_UPLOAD_BYTES as u64;

/// The `method_settings` part: what `percept experiment create --methods`
/// takes besides the folder.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MethodSettings {
    /// Pairs of methods per patch [default: all pairs].
    #[serde(default)]
    pub pairs_per_patch: Option<u32>,
    /// Skip patches whose reference gray levels (0–255) vary less.
    #[serde(default)]
    pub min_patch_variance: Option<f64>,
    /// Declared scales, `{"superres-x4": 4}`: that method's outputs are
    /// that many times smaller than their references.
    #[serde(default)]
    pub method_scales: BTreeMap<String, u32>,
    /// Anchors, `{"jpeg-q30": [{"type": "jpeg", "quality": 30}]}`: traditional
    /// pipelines entered as extra methods.
    #[serde(default)]
    pub anchors: BTreeMap<String, serde_json::Value>,
}

impl MethodSettings {
    /// The comparison of `files` (relative paths and bytes) with these settings.
    pub fn comparison(
        self,
        files: Vec<(String, Vec<u8>)>,
    ) -> Result<(Vec<crate::experiments::ReferenceFile>, MethodComparison)> {
        let (references, outputs) = crate::experiments::methods::tree_from_files(files)?;
        let scales = self
            .method_scales
            .iter()
            .map(|(method, factor)| parse_method_scale(&format!("{method}={factor}")))
            .collect::<std::result::Result<_, _>>()?;
        let anchors = self
            .anchors
            .iter()
            .map(|(name, spec)| Anchor::parse(&format!("{name}={spec}")))
            .collect::<std::result::Result<_, _>>()?;
        Ok((
            references,
            MethodComparison {
                pairs_per_patch: self.pairs_per_patch,
                min_patch_variance: self.min_patch_variance,
                outputs,
                scales,
                anchors,
            },
        ))
    }
}

/// The files of a `.zip` or `.tar.gz` archive (told apart by their first
/// bytes), by relative path; folders are left out.
pub fn unpack(file_name: &str, bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
    let refused = |what: String| {
        Error::BadRequest(format!(
            "{file_name}: {what} (send the method comparison as a .zip or .tar.gz of references/ \
             and methods/<method>/)"
        ))
    };
    let mut unpacked: u64 = 0;
    let mut count = |size: u64| -> Result<()> {
        unpacked += size;
        if unpacked > MAX_UNPACKED_BYTES {
            return Err(refused(format!(
                "unpacks to more than {} MB",
                MAX_UNPACKED_BYTES / (1024 * 1024)
            )));
        }
        Ok(())
    };
    let mut files = Vec::new();
    // One entry of `size` bytes (as its header says), read up to the cap.
    let mut add = |name: String, size: u64, entry: &mut dyn Read| -> Result<()> {
        count(size)?;
        let mut content = Vec::with_capacity(size as usize);
        Read::take(entry, MAX_UNPACKED_BYTES)
            .read_to_end(&mut content)
            .map_err(|error| refused(format!("{name} cannot be unpacked: {error}")))?;
        files.push((name, content));
        Ok(())
    };
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|error| refused(format!("not a readable zip archive: {error}")))?;
        for index in 0..archive.len() {
            let mut entry = archive
                .by_index(index)
                .map_err(|error| refused(format!("entry {index} cannot be read: {error}")))?;
            if entry.is_dir() {
                continue;
            }
            add(entry.name().to_owned(), entry.size(), &mut entry)?;
        }
    } else if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        let entries = archive
            .entries()
            .map_err(|error| refused(format!("not a readable .tar.gz archive: {error}")))?;
        for entry in entries {
            let mut entry = entry
                .map_err(|error| refused(format!("not a readable .tar.gz archive: {error}")))?;
            let kind = entry.header().entry_type();
            if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
                continue;
            }
            let name = entry
                .path()
                .map_err(|error| refused(format!("an entry's name cannot be read: {error}")))?
                .to_string_lossy()
                .into_owned();
            if !kind.is_file() {
                return Err(refused(format!("{name} is not a plain file")));
            }
            add(name, entry.size(), &mut entry)?;
        }
    } else {
        return Err(refused(
            "neither a zip nor a gzip-compressed tar archive".into(),
        ));
    }
    Ok(files)
}

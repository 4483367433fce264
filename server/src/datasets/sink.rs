//! Where an exported dataset goes: a folder, or a `.tar.gz` streamed as it is made.

use std::path::PathBuf;

use anyhow::Context;
use flate2::{write::GzEncoder, Compression};
use tokio::sync::mpsc;

/// Receives a dataset's files one by one.
#[allow(async_fn_in_trait)]
pub trait DatasetSink {
    /// `path` is relative and `/`-separated, e.g. `2afc/val/photos/ref/000000.png`.
    async fn add(&mut self, path: &str, bytes: &[u8]) -> anyhow::Result<()>;
}

/// Writes the files under a folder.
pub struct FolderSink {
    root: PathBuf,
}

impl FolderSink {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }
}

impl DatasetSink for FolderSink {
    async fn add(&mut self, path: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let path = self.root.join(path);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        tokio::fs::write(&path, bytes)
            .await
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Packs the files into a gzipped tar and hands the compressed bytes on as
/// they come, so a download starts at once and memory stays flat.
pub struct TarGzSink {
    builder: tar::Builder<GzEncoder<Vec<u8>>>,
    chunks: mpsc::Sender<Vec<u8>>,
}

impl TarGzSink {
    pub fn new(chunks: mpsc::Sender<Vec<u8>>) -> Self {
        Self {
            builder: tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default())),
            chunks,
        }
    }

    /// Writes the end of the archive and the gzip trailer.
    pub async fn finish(self) -> anyhow::Result<()> {
        let rest = self.builder.into_inner()?.finish()?;
        self.chunks
            .send(rest)
            .await
            .context("the download was cancelled")
    }

    async fn flush_compressed(&mut self) -> anyhow::Result<()> {
        let compressed = std::mem::take(self.builder.get_mut().get_mut());
        if compressed.is_empty() {
            return Ok(());
        }
        self.chunks
            .send(compressed)
            .await
            .context("the download was cancelled")
    }
}

impl DatasetSink for TarGzSink {
    async fn add(&mut self, path: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        self.builder.append_data(&mut header, path, bytes)?;
        self.flush_compressed().await
    }
}

//! `percept lpips …`: LPIPS distance between two images or two folders.

#[derive(Debug, clap::Args)]
pub struct LpipsArgs {
    /// First image.
    pub a: Option<std::path::PathBuf>,
    /// Second image.
    pub b: Option<std::path::PathBuf>,
}

pub fn run(_args: LpipsArgs) -> anyhow::Result<()> {
    anyhow::bail!("percept lpips is not built yet")
}

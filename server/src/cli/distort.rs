//! `percept distort …`: list, apply and sample BAPPS distortions.

#[derive(Debug, clap::Subcommand)]
pub enum DistortCommand {
    /// Every distortion type with its parameters and valid ranges.
    List,
}

pub fn run(command: DistortCommand) -> anyhow::Result<()> {
    match command {
        DistortCommand::List => anyhow::bail!("percept distort list is not built yet"),
    }
}

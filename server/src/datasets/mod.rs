//! BAPPS-style datasets: exporting experiments in the layout the original
//! loaders read, and importing such trees (the original BAPPS download or
//! an export) as experiments.

mod export;
mod import;
pub use percept_core::npy;
mod sink;

pub use export::{export, export_tables, ExportOptions, ExportSummary};
pub use import::{import_bapps, ImportOptions, ImportedExperiment};
pub use sink::{DatasetSink, FolderSink, TarGzSink};

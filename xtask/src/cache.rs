//! Where the heavy, shared downloads live: `$XDG_CACHE_HOME/percept` (or
//! `~/.cache/percept`), shared by every clone on the machine.

use std::path::{Path, PathBuf};

use crate::process::Result;

pub struct Cache {
    root: PathBuf,
}

impl Cache {
    pub fn locate() -> Result<Self> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .ok_or("neither XDG_CACHE_HOME nor HOME is set")?;
        Ok(Self {
            root: base.join("percept"),
        })
    }

    /// The Python venv holding torch (whose wheel ships libtorch), the official
    /// `lpips` package and the numpy/scipy/OpenCV baselines.
    pub fn venv(&self) -> PathBuf {
        self.root.join("venv")
    }

    pub fn python(&self) -> PathBuf {
        self.venv().join("bin/python")
    }

    pub fn downloads(&self) -> PathBuf {
        self.root.join("downloads")
    }

    /// LPIPS weights converted to safetensors (`alex.safetensors`, `vgg.safetensors`).
    pub fn weights(&self) -> PathBuf {
        self.root.join("weights")
    }

    /// The extracted `pyiqa` sdist, whose calibration images and published values
    /// the LPIPS conformance test reproduces.
    pub fn pyiqa(&self) -> PathBuf {
        self.root.join("pyiqa-0.1.16")
    }

    /// The `binaryen` npm package (wasm-opt) at `version`.
    pub fn binaryen(&self, version: &str) -> PathBuf {
        self.root.join(format!("binaryen-{version}"))
    }

    /// The photos of the demo experiment.
    pub fn demo_photos(&self) -> PathBuf {
        self.root.join("demo-photos")
    }

    /// libtorch as the torch wheel ships it: `site-packages/torch`.
    pub fn libtorch(&self) -> Result<PathBuf> {
        let lib = self.venv().join("lib");
        let python_dirs = std::fs::read_dir(&lib).map_err(|error| {
            format!(
                "no Python venv at {} ({error}): run `cargo xtask setup`",
                self.venv().display()
            )
        })?;
        python_dirs
            .flatten()
            .map(|entry| entry.path().join("site-packages/torch"))
            .find(|torch| torch.join("lib/libtorch_cpu.so").exists())
            .ok_or_else(|| {
                format!(
                    "torch is not installed in {}: run `cargo xtask setup`",
                    self.venv().display()
                )
            })
    }

    /// What the percept binary and the tests need to find libtorch, the weights
    /// and the reference data.
    pub fn runtime_env(&self) -> Result<Vec<(&'static str, String)>> {
        let libtorch = self.libtorch()?;
        let library_path = match std::env::var("LD_LIBRARY_PATH") {
            Ok(existing) if !existing.is_empty() => {
                format!("{}:{existing}", libtorch.join("lib").display())
            }
            _ => libtorch.join("lib").display().to_string(),
        };
        Ok(vec![
            ("LIBTORCH", display(&libtorch)),
            ("LD_LIBRARY_PATH", library_path),
            ("PERCEPT_VENV", display(&self.venv())),
            ("PERCEPT_WEIGHTS_DIR", display(&self.weights())),
            ("PERCEPT_PYIQA_DIR", display(&self.pyiqa())),
            ("PERCEPT_DEMO_PHOTOS", display(&self.demo_photos())),
        ])
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

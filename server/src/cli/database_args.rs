//! `--database-url` and `--data-dir`, the flags every command that uses the
//! database takes: `DATABASE_URL` if set, else the private cluster in the
//! data directory.

use std::path::PathBuf;

use anyhow::Context;
use sqlx::{postgres::PgConnectOptions, PgPool};

use crate::db::{self, cluster::PrivateCluster};

#[derive(Debug, clap::Args)]
pub struct DataDirArgs {
    /// Directory for Percept's own files, including the private PostgreSQL
    /// cluster used when DATABASE_URL is unset [default: /var/lib/percept as
    /// root, else $XDG_DATA_HOME/percept]
    #[arg(long, env = "PERCEPT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct DatabaseArgs {
    #[command(flatten)]
    pub data_dir: DataDirArgs,
    /// PostgreSQL server to use instead of the private cluster.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// An open pool, and the private cluster if this process started it (and so stops it).
pub struct Database {
    pub pool: PgPool,
    pub started_cluster: Option<PrivateCluster>,
}

impl DataDirArgs {
    pub fn resolve(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.data_dir {
            return Ok(dir.clone());
        }
        if nix::unistd::Uid::effective().is_root() {
            return Ok(PathBuf::from("/var/lib/percept"));
        }
        let data_home = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share"))
            })
            .context("neither XDG_DATA_HOME nor HOME is set: pass --data-dir")?;
        Ok(data_home.join("percept"))
    }

    pub fn private_cluster(&self) -> anyhow::Result<PrivateCluster> {
        PrivateCluster::new(&self.resolve()?)
    }
}

impl DatabaseArgs {
    pub async fn open(&self) -> anyhow::Result<Database> {
        if let Some(url) = &self.database_url {
            let options: PgConnectOptions = url
                .parse()
                .context("DATABASE_URL is not a valid PostgreSQL URL")?;
            let pool = db::connect(options).await?;
            tracing::info!("using the PostgreSQL server at DATABASE_URL");
            return Ok(Database {
                pool,
                started_cluster: None,
            });
        }
        let cluster = self.data_dir.private_cluster()?;
        let started = cluster.start()?;
        tracing::info!(
            data = %cluster.pgdata().display(),
            log = %cluster.log_file().display(),
            "private PostgreSQL cluster {}",
            if started { "started" } else { "already running" }
        );
        let pool = db::connect(cluster.connect_options()).await?;
        Ok(Database {
            pool,
            started_cluster: started.then_some(cluster),
        })
    }
}

impl Database {
    /// Closes the pool, then stops the private cluster if this process started it.
    pub async fn close(self) -> anyhow::Result<()> {
        self.pool.close().await;
        if let Some(cluster) = self.started_cluster {
            cluster.stop()?;
            tracing::info!("private PostgreSQL cluster stopped");
        }
        Ok(())
    }
}

//! `percept serve`: the web app.

use std::{net::SocketAddr, path::PathBuf};

use tokio::net::TcpListener;

use super::DatabaseArgs;
use crate::http::{self, AppState};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PERCEPT_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Directory with the CSS and the built wasm bundle (`pkg/`).
    #[arg(long, env = "PERCEPT_STATIC_DIR", default_value = "static")]
    pub static_dir: PathBuf,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    crate::telemetry::init();
    tokio::runtime::Runtime::new()?.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if !args.static_dir.join("pkg/app.js").exists() {
        tracing::warn!(
            "{} has no wasm bundle (pkg/app.js): pages render but will not respond; \
             build it with `cargo xtask build`",
            args.static_dir.display()
        );
    }
    // Bind first: a taken port should fail before a database is started for nothing.
    let listener = TcpListener::bind(args.addr).await.map_err(|error| {
        let hint = match error.kind() {
            std::io::ErrorKind::AddrInUse => {
                ": the port is already in use (another percept serve?); pass --addr with a free port"
            }
            _ => "",
        };
        anyhow::Error::new(error).context(format!("cannot listen on {}{hint}", args.addr))
    })?;
    let database = args.database.open().await?;
    let state = AppState {
        pool: database.pool.clone(),
        leptos: http::leptos_options(args.static_dir.clone()),
    };
    println!("Percept is running at http://{}/", listener.local_addr()?);
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    tracing::info!("web server stopped");
    database.close().await
}

/// Resolves on SIGINT or SIGTERM, so open requests finish and the private
/// cluster is shut down cleanly.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
}

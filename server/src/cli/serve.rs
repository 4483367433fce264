//! `percept serve`: the web app.

use std::{future::IntoFuture, net::SocketAddr, path::PathBuf};

use tokio::net::TcpListener;

use super::score::WeightsArgs;
use super::worker::JobKindsArgs;
use super::DatabaseArgs;
use crate::experiments::ReferenceFile;
use crate::http::{self, rate_limits::RateLimitSettings, static_files::StaticFiles, AppState};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PERCEPT_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,
    /// Serve the CSS and the wasm bundle (`pkg/`) from this folder, read at
    /// start-up, instead of the copies embedded in the binary (for
    /// development: the repository's `static/` after `cargo xtask build`).
    #[arg(long, env = "PERCEPT_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,
    #[command(flatten)]
    pub job_kinds: JobKindsArgs,
    #[command(flatten)]
    pub limits: RateLimitSettings,
    #[command(flatten)]
    pub weights: WeightsArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Folder of photos (PNG or JPEG) for the demo experiment (`cargo xtask
    /// setup` puts four from scikit-image in the cache).
    #[arg(long, env = "PERCEPT_DEMO_PHOTOS")]
    images: PathBuf,
    #[command(flatten)]
    serve: ServeArgs,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    crate::telemetry::init();
    tokio::runtime::Runtime::new()?.block_on(serve(args, None))
}

/// `percept demo`: `serve`, on a database that holds the demo experiment.
pub fn run_demo(args: DemoArgs) -> anyhow::Result<()> {
    crate::telemetry::init();
    let photos = super::experiment::read_reference_files(&args.images)?;
    let mut serve_args = args.serve;
    // The demo's simulated workers all work from this machine, as fast as they can.
    serve_args.limits = serve_args.limits.without_worker_limits();
    tokio::runtime::Runtime::new()?.block_on(serve(serve_args, Some(photos)))
}

async fn serve(args: ServeArgs, demo_photos: Option<Vec<ReferenceFile>>) -> anyhow::Result<()> {
    // A missing GPU is refused before the server starts.
    args.job_kinds.device(&args.weights)?;
    let static_files = match &args.static_dir {
        Some(folder) => {
            let files = StaticFiles::read_dir(folder)?;
            files.require_bundle(&format!("--static-dir {}", folder.display()))?;
            files
        }
        None => {
            let files = StaticFiles::embedded();
            files.require_bundle("this percept binary")?;
            files
        }
    };
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
    let state = AppState::new(database.pool.clone(), static_files, &args.limits);
    // One signal stops both the web server and the job runner.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let stop_requested = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }
    };
    let runner = args
        .job_kinds
        .runner(database.pool.clone(), &args.weights)?;
    let runner = tokio::spawn(runner.run(stop_requested()));
    let base_url = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(
        axum::serve(
            listener,
            http::router(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stop_requested())
        .into_future(),
    );
    if let Some(photos) = demo_photos {
        let demo = crate::demo::experiments(&database.pool, photos).await?;
        if demo.created || demo.methods_created {
            crate::demo::simulate_judgments(&database.pool, &base_url, &demo).await?;
        }
        println!(
            "Demo: sign in at {base_url}/sign-in as {} with password {}; workers start at \
             {base_url}/e/{} (2AFC), {base_url}/e/{} (JND) and {base_url}/e/{} (method comparison)",
            crate::demo::RESEARCHER_EMAIL,
            crate::demo::RESEARCHER_PASSWORD,
            demo.two_afc,
            demo.jnd,
            demo.methods,
        );
    }
    println!("Percept is running at {base_url}/");
    server.await??;
    runner.await??;
    tracing::info!("web server stopped");
    database.close().await
}

/// Resolves on SIGINT or SIGTERM, so open requests finish and the private
/// cluster is shut down cleanly.
pub(super) async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
}

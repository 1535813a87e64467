//! `icam serve`: a local web viewer over the library calls of `icam explain`.
//!
//! One page (HTML, CSS and JavaScript embedded in the binary: no CDN, works offline) and a
//! small JSON API: `GET /api/model` (the model, its classes and candidate layers, the methods,
//! presets and options) and `POST /api/explain` (a multipart upload, options under the long
//! names of `icam explain`, answered with the top-5 classes and each explanation as JSON with
//! its pictures). One module per concern:
//! - [`routes`]: the HTTP routes, limits and headers;
//! - [`form`]: a multipart form read into the upload and its option fields;
//! - [`options`]: option fields parsed by `icam explain`'s own clap definitions;
//! - [`api`]: the JSON of the model and of an explanation run, and the error responses;
//! - [`queue`]: the bounded pool that runs network passes;
//! - [`assets`]: the embedded page.
//!
//! Safe by default: it listens on loopback unless `--host` says otherwise (and then answers
//! only requests addressed to loopback names, against DNS rebinding); uploads are limited in
//! bytes (413) and pixels; options that name files or the model are refused, so that nothing
//! beyond the model loaded at start is read; at most `--workers` network passes run and
//! `--queue` wait (503 with Retry-After beyond); Ctrl-C or SIGTERM stops it after the requests
//! in flight.

mod api;
mod assets;
mod form;
mod options;
mod queue;
mod routes;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use icam_app::options::ModelArgs;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on. The default answers this computer only; another address (e.g.
    /// 0.0.0.0) exposes the viewer to the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on (0: a free port, printed at start).
    #[arg(long, default_value_t = 8787)]
    pub port: u16,
    /// Network passes that run at once (default: one per core).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Requests that may wait for a worker; beyond, the server answers 503 with Retry-After
    /// (default: twice the workers).
    #[arg(long)]
    pub queue: Option<usize>,
    /// Largest upload, in megabytes (413 beyond).
    #[arg(long, default_value_t = 20)]
    pub max_upload_mb: u64,
    /// Largest image, in megapixels (refused from its header, before decoding).
    #[arg(long, default_value_t = 25.0)]
    pub max_megapixels: f64,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// The limits of a running server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_upload_bytes: usize,
    pub max_pixels: u64,
    pub workers: usize,
    pub queue: usize,
}

impl ServeArgs {
    fn limits(&self) -> Result<Limits> {
        let workers = match self.workers {
            Some(w) => w,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        anyhow::ensure!(workers >= 1, "--workers must be at least 1");
        anyhow::ensure!(
            (1..=4096).contains(&self.max_upload_mb),
            "--max-upload-mb must lie in [1, 4096]"
        );
        anyhow::ensure!(
            self.max_megapixels.is_finite() && self.max_megapixels > 0.0,
            "--max-megapixels must be positive"
        );
        Ok(Limits {
            max_upload_bytes: (self.max_upload_mb * 1_000_000) as usize,
            max_pixels: (self.max_megapixels * 1e6) as u64,
            workers,
            queue: self.queue.unwrap_or(2 * workers),
        })
    }
}

pub fn run(a: &ServeArgs) -> Result<()> {
    let limits = a.limits()?;
    eprintln!("loading the model");
    let model = Arc::new(a.model.load()?);
    let name = match &a.model.weights {
        Some(w) => w
            .file_name()
            .map_or_else(|| w.display().to_string(), |n| n.to_string_lossy().into()),
        None => a.model.model.clone(),
    };
    let state = routes::State::new(model, name, limits, a.host.is_loopback());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(limits.workers + 1)
        .enable_all()
        .build()
        .context("starting the server's runtime")?;
    runtime.block_on(async {
        let addr = SocketAddr::new(a.host, a.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let addr = listener.local_addr()?;
        let host = match addr.ip() {
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        };
        println!("icam serve: http://{host}:{}/", addr.port());
        eprintln!(
            "{} worker(s), queue {}; Ctrl-C stops",
            limits.workers, limits.queue
        );
        axum::serve(listener, routes::router(state))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("serving")
    })?;
    eprintln!("stopped");
    Ok(())
}

/// Ctrl-C (SIGINT) or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
    eprintln!("shutting down after the requests in flight");
}

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
    /// Largest I-CAM `n` a request may ask for (the library allows up to
    /// `icam::config::MAX_PERTURBATIONS`, 4096: the noise and mask of
    /// every perturbation are held in memory, about 0.25 MB each at 224², and the time grows
    /// with n).
    #[arg(long, default_value_t = 256)]
    pub max_n: usize,
    /// Largest `batch-size` (images per network pass of Score-CAM and the like) a request may
    /// ask for.
    #[arg(long, default_value_t = 64)]
    pub max_batch_size: usize,
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
    pub max_n: usize,
    pub max_batch_size: usize,
}

impl Limits {
    /// The request within this server's limits on I-CAM's `n` and the batch size, or the
    /// one-line reason it is not.
    pub fn check(&self, r: &icam_app::explanation::ExplainRequest) -> Result<(), String> {
        if r.config.n > self.max_n {
            return Err(format!(
                "--n must be at most {} on this server (icam serve --max-n), got {}",
                self.max_n, r.config.n
            ));
        }
        if let Some(b) = r.cam.batch_size.filter(|&b| b > self.max_batch_size) {
            return Err(format!(
                "--batch-size must be at most {} on this server (icam serve --max-batch-size), got {b}",
                self.max_batch_size
            ));
        }
        Ok(())
    }
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
        let most = icam::config::MAX_PERTURBATIONS;
        anyhow::ensure!(
            (1..=most).contains(&self.max_n),
            "--max-n must lie in [1, {most}]"
        );
        anyhow::ensure!(
            self.max_batch_size >= 1,
            "--max-batch-size must be at least 1"
        );
        Ok(Limits {
            max_upload_bytes: (self.max_upload_mb * 1_000_000) as usize,
            max_pixels: (self.max_megapixels * 1e6) as u64,
            workers,
            queue: self.queue.unwrap_or(2 * workers),
            max_n: self.max_n,
            max_batch_size: self.max_batch_size,
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

#[cfg(test)]
mod tests {
    use super::*;
    use icam_app::explanation::ExplainRequest;

    fn limits() -> Limits {
        Limits {
            max_upload_bytes: 1,
            max_pixels: 1,
            workers: 1,
            queue: 1,
            max_n: 16,
            max_batch_size: 8,
        }
    }

    /// `n` and the batch size up to the server's limits pass; one more is refused with a line
    /// that names the limit and the flag that raises it.
    #[test]
    fn requests_within_the_limits() {
        let mut r = ExplainRequest::default();
        r.config.n = 16;
        r.cam.batch_size = Some(8);
        assert_eq!(limits().check(&r), Ok(()));
        r.config.n = 17;
        assert_eq!(
            limits().check(&r).unwrap_err(),
            "--n must be at most 16 on this server (icam serve --max-n), got 17"
        );
        r.config.n = 8;
        r.cam.batch_size = Some(9);
        assert_eq!(
            limits().check(&r).unwrap_err(),
            "--batch-size must be at most 8 on this server (icam serve --max-batch-size), got 9"
        );
        r.cam.batch_size = None;
        assert_eq!(limits().check(&r), Ok(()));
    }
}

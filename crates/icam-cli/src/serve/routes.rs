//! The HTTP routes: the page and its files, `GET /api/model`, `POST /api/explain`; the body
//! limit, the host check and the security headers.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use icam_app::{Explainer, LoadedModel};
use serde_json::Value;

use super::Limits;
use super::api::{self, ApiError};
use super::assets;
use super::form;
use super::options::Options;
use super::queue::{Full, Pool};

/// How many classes an answer lists.
const TOP_K: usize = 5;

pub struct State {
    model: Arc<LoadedModel>,
    limits: Limits,
    pool: Pool,
    options: Options,
    /// `GET /api/model`'s answer, made once.
    model_json: Value,
    /// Answer only requests addressed to a loopback name (the server listens on loopback).
    loopback_only: bool,
}

impl State {
    pub fn new(
        model: Arc<LoadedModel>,
        name: String,
        limits: Limits,
        loopback_only: bool,
    ) -> Arc<Self> {
        let options = Options::new();
        let model_json = api::model_json(&model, &name, &options, &limits);
        Arc::new(Self {
            model,
            limits,
            pool: Pool::new(limits.workers, limits.queue),
            options,
            model_json,
            loopback_only,
        })
    }
}

pub fn router(state: Arc<State>) -> Router {
    let limit = state.limits.max_upload_bytes;
    Router::new()
        .route("/", get(|| async { assets::page(assets::INDEX) }))
        .route("/app.js", get(|| async { assets::page(assets::APP_JS) }))
        .route(
            "/style.css",
            get(|| async { assets::page(assets::STYLE_CSS) }),
        )
        .route(
            "/example.png",
            get(|| async { assets::page(assets::EXAMPLE) }),
        )
        .route("/api/model", get(model))
        .route("/api/explain", post(explain))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // The form is read whole first (form::read): the multipart parser's own limit is
        // then never reached.
        .layer(DefaultBodyLimit::max(limit + form::FRAMING))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// The host check, and headers on every answer.
async fn guard(
    axum::extract::State(s): axum::extract::State<Arc<State>>,
    req: Request,
    next: Next,
) -> Response {
    if s.loopback_only && !loopback_host(req.headers()) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "this server answers requests to localhost only (start it with --host to change that)",
        )
        .into_response();
    }
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    r
}

/// The `Host` header names the loopback interface (`localhost`, `127.x.x.x`, `[::1]`): a page
/// of another site that a DNS name points at 127.0.0.1 is not answered.
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("not found: {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    let allowed = if uri.path() == "/api/explain" {
        "POST"
    } else {
        "GET"
    };
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} {} is not served: use {allowed}", uri.path()),
    )
}

async fn model(axum::extract::State(s): axum::extract::State<Arc<State>>) -> Json<Value> {
    Json(s.model_json.clone())
}

async fn explain(
    axum::extract::State(s): axum::extract::State<Arc<State>>,
    req: Request,
) -> Result<Json<Value>, ApiError> {
    let form = form::read(req, s.limits.max_upload_bytes).await?;
    let request = s
        .options
        .parse(&form.fields)
        .map_err(ApiError::bad_request)?;
    s.limits.check(&request).map_err(ApiError::bad_request)?;
    let state = s.clone();
    let job = move || -> Result<Value, ApiError> {
        let started = Instant::now();
        let model = &*state.model;
        let image = model
            .decode_image(&form.image.name, &form.image.bytes, state.limits.max_pixels)
            .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
        let top = model
            .predict(&image, TOP_K)
            .map_err(|e| ApiError::from_library(&e))?;
        // Built here: an explainer stays on the thread that runs it.
        let explainer = Explainer::new(model, request).map_err(|e| ApiError::from_library(&e))?;
        let explanations = explainer
            .explain(&image, &mut |_| {})
            .map_err(|e| ApiError::from_library(&e))?;
        api::explain_json(&image, &top, &explanations, started.elapsed().as_secs_f64())
            .map_err(|e| ApiError::from_library(&e))
    };
    match s.pool.run(job).await {
        Ok(Ok(answer)) => answer.map(Json),
        Ok(Err(_panicked)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error (a bug: see the server's log)",
        )),
        Err(Full { retry_after_s }) => Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!(
                "busy: {} network passes are running and {} waiting; retry in {retry_after_s} s",
                s.limits.workers, s.limits.queue
            ),
            retry_after_s: Some(retry_after_s),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_str(v).unwrap());
            loopback_host(&m)
        };
        for ok in [
            "localhost",
            "localhost:8787",
            "LocalHost:1",
            "127.0.0.1:8787",
            "127.1.2.3",
            "[::1]:8787",
            "[::1]",
        ] {
            assert!(h(ok), "{ok}");
        }
        for bad in [
            "evil.example:8787",
            "localhost.evil.example",
            "10.0.0.1:8787",
            "[::2]:1",
            "",
        ] {
            assert!(!h(bad), "{bad}");
        }
        assert!(!loopback_host(&HeaderMap::new()));
    }
}

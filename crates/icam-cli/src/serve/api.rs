//! The JSON of the API: the model (`GET /api/model`), an explanation run (`POST /api/explain`)
//! and the errors (`{"error": "<the CLI's one-line message>"}` with a status).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use icam_app::error::{ErrorKind, kind};
use icam_app::explanation::{Explanation, method_names};
use icam_app::{InputImage, LoadedModel, Prediction};
use serde_json::{Value, json};

use super::Limits;
use super::options::Options;

/// An error answer: a status and one line.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds, for 503.
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after_s: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// A library error: its one-line message, with the status of its kind (options and names
    /// that mean nothing here: 400; a missing file: 404; anything else: 500).
    pub fn from_library(e: &anyhow::Error) -> Self {
        let status = match kind(e) {
            ErrorKind::InvalidOption => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Failed => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, format!("{e:#}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(json!({ "error": self.message }))).into_response();
        if let Some(s) = self.retry_after_s {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

/// `GET /api/model`: the model, its classes and layers; the methods, presets and options a
/// request may set; the defaults of a request that sets none; the server's limits.
pub fn model_json(model: &LoadedModel, name: &str, options: &Options, limits: &Limits) -> Value {
    let net = model.net();
    let classes: Vec<Value> = (0..net.num_classes())
        .map(|c| json!(model.class_name(c)))
        .collect();
    json!({
        "model": name,
        "arch": net.arch(),
        "num_classes": net.num_classes(),
        "classes": classes,
        // I-CAM's candidates under the default preset (each preset's rule may pick others).
        "candidate_layers": icam::IcamConfig::default().candidate_layers(net),
        "baseline_layer": net.baseline_layer(),
        "normalize": model.normalization.name(),
        "no_resize": model.no_resize,
        "methods": method_names(),
        "presets": options.presets(),
        "defaults": options.defaults(),
        "options": options.describe(),
        "limits": {
            "max_upload_bytes": limits.max_upload_bytes,
            "max_pixels": limits.max_pixels,
            "workers": limits.workers,
            "queue": limits.queue,
            "max_n": limits.max_n,
            "max_batch_size": limits.max_batch_size,
        },
        "icam_version": env!("CARGO_PKG_VERSION"),
    })
}

/// `POST /api/explain`'s answer: the image, its top classes and one explanation per class.
pub fn explain_json(
    image: &InputImage,
    top: &[Prediction],
    explanations: &[Explanation],
    seconds: f64,
) -> anyhow::Result<Value> {
    let (w, h) = image.rgb.dimensions();
    Ok(json!({
        "image": { "name": image.name, "size": [w, h] },
        "top": top,
        "explanations": explanations
            .iter()
            .map(Explanation::to_json)
            .collect::<anyhow::Result<Vec<_>>>()?,
        "seconds": seconds,
    }))
}

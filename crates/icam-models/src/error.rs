//! One error type for the model zoo. Every variant renders as one readable line.

use std::path::PathBuf;

/// Errors of the model zoo: weight files, architectures, taps, images.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read at all.
    #[error("cannot read {path}: {err}")]
    Io {
        path: PathBuf,
        // Part of the message, deliberately not the error's `source()` (a field named
        // `source` would be): the CLI prints whole error chains.
        err: std::io::Error,
    },
    /// The weight file is corrupt, truncated, hostile or not a weight file.
    #[error("invalid weight file {path}: {msg}")]
    BadWeights { path: PathBuf, msg: String },
    /// The weight file lacks a tensor the architecture needs.
    #[error("weights for {arch} lack tensor `{name}` (expected shape {expected:?})")]
    MissingTensor {
        arch: String,
        name: String,
        expected: Vec<usize>,
    },
    /// The weight file holds a tensor the architecture does not use.
    #[error("weights hold tensor `{name}` (shape {found:?}) that {arch} does not use{more}")]
    UnexpectedTensor {
        arch: String,
        name: String,
        found: Vec<usize>,
        more: String,
    },
    /// A tensor exists but has the wrong shape.
    #[error("tensor `{name}` has shape {found:?} but {arch} expects {expected:?}")]
    ShapeMismatch {
        arch: String,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// A tensor's element type cannot be used as a weight.
    #[error(
        "tensor `{name}` has element type {dtype}, which cannot be a weight (float16/bfloat16/float32/float64 only)"
    )]
    UnsupportedDtype { name: String, dtype: String },
    /// A weight holds NaN or infinity.
    #[error("tensor `{name}` holds a non-finite value (NaN or infinity)")]
    NonFinite { name: String },
    /// The architecture name is not in the zoo, or could not be inferred.
    #[error("{0}")]
    Arch(String),
    /// A requested tap names no layer of the network.
    #[error("unknown layer `{name}` for {arch}; valid layers: {}", valid.join(", "))]
    UnknownLayer {
        arch: String,
        name: String,
        valid: Vec<String>,
    },
    /// The input batch does not fit the network.
    #[error("{0}")]
    Input(String),
    /// The image could not be decoded.
    #[error("cannot decode image {path}: {msg}")]
    Image { path: PathBuf, msg: String },
    /// A model name that the store does not know.
    #[error("unknown model `{name}`; known models: {}", known.join(", "))]
    UnknownModel { name: String, known: Vec<String> },
    /// A known model that is not in the cache yet.
    #[error("model `{name}` is not in the model cache {}; fetch it with `icam model fetch {name}`", dir.display())]
    NotCached { name: String, dir: PathBuf },
    /// Fetching a model failed (download, wheel, checksum or cache write).
    #[error("cannot fetch model `{name}`: {msg}")]
    Fetch { name: String, msg: String },
    /// The network cannot do what was asked (e.g. run from a layer onwards).
    #[error("{0}")]
    Unsupported(String),
    /// The backend reported a failure (out of memory, execution error, ...).
    #[error("backend error: {0}")]
    Backend(String),
}

/// Result with [`ModelError`].
pub type Result<T> = std::result::Result<T, ModelError>;

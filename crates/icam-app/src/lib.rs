//! # icam-app — the application layer of icam
//!
//! Models by options, images, explanations as files, datasets, evaluation, cases and
//! training-example neighbours: everything the `icam` command does between parsing its flags
//! and printing, as library calls, so that the command line, the Python package and a web
//! viewer are thin front-ends over the same code. It knows files; it knows nothing about flags
//! or terminals: long calls report through [`progress::Progress`] callbacks, and errors are
//! `anyhow` chains whose one-line rendering (`{:#}`) is what the user sees.

pub mod cases;
pub mod compare;
pub mod dataset;
pub mod error;
pub mod eval;
pub mod explanation;
pub mod model;
pub mod neighbours;
pub mod output;
pub mod progress;
pub mod seed;

pub use explanation::{ExplainRequest, Explainer, Explanation, explain};
pub use model::{InputImage, LoadedModel, ModelSpec, Prediction};
pub use output::Outputs;
pub use progress::{Phase, Progress};

//! # icam-app — the application layer of icam
//!
//! Models by options, images, explanations as files, datasets, evaluation, cases and
//! training-example neighbours: everything the `icam` command does between parsing its flags
//! and printing, as library calls, so that the command line, the Python package and a web
//! viewer are thin front-ends over the same code. It knows files; it knows nothing about flags
//! or terminals: long calls report through [`progress::Progress`] callbacks, and errors are
//! `anyhow` chains whose one-line rendering (`{:#}`) is what the user sees, with an
//! [`error::kind`] for front-ends that map failures to their own types.
//!
//! The calls, one module each:
//! - [`model`]: a [`ModelSpec`] (weights file or store model, architecture, preprocessing,
//!   precision, device) loads a [`LoadedModel`], which opens images ([`InputImage`]), names
//!   and parses classes, and predicts.
//! - [`explanation`]: an [`ExplainRequest`] (method, classes, layers, I-CAM's options,
//!   perturbation files, colormap), checked against a model by an [`Explainer`], gives one
//!   [`Explanation`] per class: heatmap, per-layer maps and facts, `report.json`, warnings,
//!   the overlay and layer-grid pictures, and the four files.
//! - [`compare`]: every method and I-CAM's three biases on one image, as one figure.
//! - [`dataset`]: VOC folders, image folders, CSV files; class names of annotations.
//! - [`eval`]: an [`eval::EvalRequest`] over a dataset, resumable and sharded.
//! - [`cases`]: the paper's four confidence/correctness cases as an HTML report, with the
//!   nearest training examples of [`neighbours`].
//! - [`output`]: all-or-nothing writing of a run's files; `.npy` reading and writing.
//! - [`allocator`]: the front-ends' global allocator and its setting.
//! - `options` (feature `options`): the options of the front-ends under the command line's
//!   names, defaults and help (clap), shared by `icam` and the Python package; the one place
//!   where this crate knows flags.

pub mod allocator;
pub mod cases;
pub mod compare;
pub mod dataset;
pub mod error;
pub mod eval;
pub mod explanation;
pub mod model;
pub mod neighbours;
#[cfg(feature = "options")]
pub mod options;
pub mod output;
pub mod progress;
pub mod seed;

pub use explanation::{ExplainRequest, Explainer, Explanation, explain};
pub use model::{InputImage, LoadedModel, ModelSpec, Prediction};
pub use output::Outputs;
pub use progress::{Phase, Progress};

#[cfg(test)]
mod tests {
    /// Front-ends hold these across threads (Python releases its lock during the network
    /// pass): they must stay `Send + Sync`.
    #[test]
    fn front_end_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<super::LoadedModel>();
        check::<super::InputImage>();
        check::<super::Explanation>();
        check::<super::ExplainRequest>();
        check::<super::eval::EvalPlan>();
        check::<super::cases::CasesPlan>();
        check::<super::compare::Comparison>();
    }
}

//! `icam.evaluate` and `Model.evaluate`: `icam eval` as a call, with an optional progress
//! callback; the result as `icam.Evaluation`.

use std::ffi::OsString;
use std::path::PathBuf;

use icam_app::eval::{EvalOutcome, EvalPlan};
use icam_app::options::{EvalOptions, ModelArgs};
use icam_app::{LoadedModel, Progress};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::commands;
use crate::errors::{guarded, warn};
use crate::kwargs::{self, Parsed};
use crate::model::PyModel;

/// Evaluate methods on a dataset as `icam eval`: a VOC folder (XML boxes), a folder of images
/// or a CSV. Keywords: `icam eval`'s options under their names with `-` as `_` and the same
/// defaults (`methods`, `biases`, `out`, `limit`, `shard`, `thresholds`, `metrics`,
/// `curve_steps`, `class_map`, `restart`, I-CAM's options) and the model's: `model` (a store
/// name, or an `icam.Model`), `weights`, `arch`, ... (see `icam.options("evaluate")`).
/// `progress(done, total, image)` is called after each image. Writes per_image.csv,
/// summary.md/.csv (resuming an interrupted run in `out`) and returns an `Evaluation`.
#[pyfunction]
#[pyo3(signature = (data, *, model = None, progress = None, **options))]
pub fn evaluate(
    py: Python<'_>,
    data: PathBuf,
    model: Option<&Bound<'_, PyAny>>,
    progress: Option<Py<PyAny>>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyEvaluation> {
    let data = [OsString::from(data)];
    if let Some(m) = model
        && let Ok(m) = m.cast::<PyModel>()
    {
        let parsed = kwargs::parse(
            commands::evaluate(false),
            "evaluate",
            &data,
            options,
            &commands::elsewhere("evaluate"),
        )?;
        let loaded = m.get().inner.clone();
        return run_evaluate(py, Some(loaded), &parsed, progress);
    }
    let kw = match options {
        Some(d) => d.copy()?,
        None => PyDict::new(py),
    };
    if let Some(m) = model {
        kw.set_item("model", m)?;
    }
    let parsed = kwargs::parse(
        commands::evaluate(true),
        "evaluate",
        &data,
        Some(&kw),
        &|_| None,
    )?;
    run_evaluate(py, None, &parsed, progress)
}

/// Run a parsed evaluation on `model` (or the model its options name).
pub fn run_evaluate(
    py: Python<'_>,
    model: Option<LoadedModel>,
    parsed: &Parsed,
    progress: Option<Py<PyAny>>,
) -> PyResult<PyEvaluation> {
    let opts: EvalOptions = parsed.get()?;
    let model_args: Option<ModelArgs> = match model {
        Some(_) => None,
        None => Some(parsed.get()?),
    };
    let out = opts.out.clone();
    let (outcome, warnings, notes, callback_error) = py.detach(|| {
        guarded(|| {
            // As the command: options and dataset checked before the model is loaded.
            let shard = opts.shard()?;
            let plan = EvalPlan::new(opts.request(shard.as_ref())?)?;
            let loaded = match (model, &model_args) {
                (Some(m), _) => m,
                (None, Some(a)) => a.load()?,
                (None, None) => unreachable!("a model or its options"),
            };
            let (mut warnings, mut notes) = (Vec::new(), Vec::new());
            let (mut total, mut done, mut item) = (0usize, 0usize, String::new());
            let mut callback_error: Option<PyErr> = None;
            let outcome = plan.run(&loaded, &mut |p| match p {
                Progress::Begin(_, n) => (total, done) = (n, 0),
                Progress::Item(name) => item = name.to_string(),
                Progress::Step => {
                    done += 1;
                    if let (Some(f), None) = (&progress, &callback_error) {
                        Python::attach(|py| {
                            if let Err(e) = f.call1(py, (done, total, item.as_str())) {
                                callback_error = Some(e);
                            }
                        });
                    }
                }
                Progress::End(_) => {}
                Progress::Warning(w) => warnings.push(w.to_string()),
                Progress::Note(n) => notes.push(n.to_string()),
            })?;
            Ok((outcome, warnings, notes, callback_error))
        })
    })?;
    for w in &warnings {
        warn(py, w)?;
    }
    if let Some(e) = callback_error {
        return Err(e);
    }
    Ok(PyEvaluation {
        outcome,
        out,
        notes,
    })
}

/// What an evaluation wrote and measured: `summary_md` (the table of `summary.md`: mean ±
/// standard error per method and metric; a notebook shows it), `out` and `per_image` (the
/// CSV files), `prominence` (I-CAM's layer prominence, when evaluated), `evaluated` (images
/// evaluated by this call, not resumed), `seconds`, `notes` (what was resumed).
#[pyclass(frozen, name = "Evaluation", module = "icam")]
pub struct PyEvaluation {
    outcome: EvalOutcome,
    out: PathBuf,
    notes: Vec<String>,
}

#[pymethods]
impl PyEvaluation {
    #[getter]
    fn summary_md(&self) -> &str {
        &self.outcome.summary_md
    }

    #[getter]
    fn out(&self) -> PathBuf {
        self.out.clone()
    }

    #[getter]
    fn per_image(&self) -> PathBuf {
        self.outcome.per_image.clone()
    }

    #[getter]
    fn prominence(&self) -> Option<PathBuf> {
        self.outcome.prominence.clone()
    }

    #[getter]
    fn evaluated(&self) -> usize {
        self.outcome.evaluated
    }

    #[getter]
    fn seconds(&self) -> f64 {
        self.outcome.seconds
    }

    #[getter]
    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    fn _repr_markdown_(&self) -> String {
        self.outcome.summary_md.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "<icam.Evaluation of {} images in {:.1} s into {}>\n{}",
            self.outcome.evaluated,
            self.outcome.seconds,
            self.out.display(),
            self.outcome.summary_md
        )
    }
}

//! # icam-py — the Python package `icam`
//!
//! A thin front-end over `icam-app`, as the `icam` command is: `icam.Model.load/default`
//! ([`model`]), `Model.explain` → `icam.Explanation` ([`explanation`]), `Model.predict`,
//! `icam.evaluate` ([`evaluate`]). Keyword arguments are the command's options, parsed by the
//! same clap definitions (`icam_app::options`, spelled as arguments by [`kwargs`]; which call
//! takes which: [`commands`]), so names, defaults and checks cannot drift. Images come as
//! paths or arrays ([`image`]); errors become `ValueError` / `FileNotFoundError` /
//! `icam.IcamError` with the command's one-line messages ([`errors`]). The network runs
//! without Python's lock.

mod commands;
mod errors;
mod evaluate;
mod explanation;
mod image;
mod kwargs;
mod model;

use numpy::PyUntypedArrayMethods;
use pyo3::prelude::*;
use pyo3::types::PyList;

// As the `icam` binary: the network pass allocates and frees large buffers at a high rate
// (icam_app::allocator).
#[global_allocator]
static GLOBAL: icam_app::allocator::MiMalloc = icam_app::allocator::MiMalloc;

/// The options a call takes, as `icam` defines them: a list of dicts with `name` (the
/// keyword), `flag` (the command-line flag), `kind` (`value`, `flag` or `list`), `default`,
/// `choices` and `help`. `command`: `explain`, `load`, `predict` or `evaluate`.
#[pyfunction]
fn options<'py>(py: Python<'py>, command: &str) -> PyResult<Bound<'py, PyList>> {
    let cmd = match command {
        "explain" => commands::explain(),
        "load" => commands::load(),
        "predict" => commands::predict(),
        "evaluate" => commands::evaluate(true),
        other => {
            return Err(errors::value_error(format!(
                "unknown command `{other}`: explain, load, predict or evaluate"
            )));
        }
    };
    kwargs::describe(py, &cmd)
}

/// The names of the explanation methods (`method=`).
#[pyfunction]
fn methods() -> Vec<String> {
    commands::explain()
        .get_arguments()
        .find(|a| a.get_long() == Some("method"))
        .map(|a| {
            a.get_possible_values()
                .iter()
                .map(|p| p.get_name().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Decode an image file as icam does: uint8 RGB of shape `(height, width, 3)`.
#[pyfunction]
fn read_image<'py>(py: Python<'py>, path: std::path::PathBuf) -> PyResult<Bound<'py, PyAny>> {
    let rgb = py.detach(|| {
        errors::guarded(|| {
            icam_app::model::check_image(&path)?;
            Ok(icam_models::preprocess::load_rgb(&path)?)
        })
    })?;
    explanation::rgb_array(py, &rgb)
}

#[pymodule]
fn _icam(m: &Bound<'_, PyModule>) -> PyResult<()> {
    icam_app::allocator::keep_freed_memory();
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("IcamError", py.get_type::<errors::IcamError>())?;
    m.add("IcamWarning", py.get_type::<errors::IcamWarning>())?;
    m.add_class::<model::PyModel>()?;
    m.add_class::<explanation::PyExplanation>()?;
    m.add_class::<explanation::PyLayer>()?;
    m.add_class::<evaluate::PyEvaluation>()?;
    m.add_function(wrap_pyfunction!(evaluate::evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(options, m)?)?;
    m.add_function(wrap_pyfunction!(methods, m)?)?;
    m.add_function(wrap_pyfunction!(read_image, m)?)?;
    // numpy is imported once here, so a missing numpy fails at `import icam`.
    let _ = numpy::PyArray1::<u8>::zeros(py, 0, false).len();
    Ok(())
}

//! `icam`: explain a CNN's decision with Integrative CAM (and the CAM family of
//! pytorch-grad-cam).
//!
//! A front-end over `icam-app` (which does the work: models, explanations as files, datasets,
//! evaluation, cases, neighbours; and, in `icam_app::options`, the options shared with the
//! Python package: `ModelArgs`, `IcamArgs`, `ExplainOptions`, `EvalOptions`). This crate
//! holds only, per command (`*_cmd.rs`): the clap argument structs of each command (its
//! positional arguments, output folders and command-only flags, flattening the shared
//! options), their conversion into the library's requests, progress bars and
//! spinners (indicatif) fed by the library's progress callbacks, and what is printed on
//! stdout/stderr. `bench` also measures the process itself (each measurement in a fresh child
//! process, peak RSS). `serve` (a folder: routes, form, options, API JSON, queue, the embedded
//! page) is the web front-end over the same calls. No maths, no file formats, no dataset or
//! report logic.

mod bench_cmd;
mod cases_cmd;
mod compare_cmd;
mod eval_cmd;
mod eval_merge_cmd;
mod explain_cmd;
mod layers_cmd;
mod model_cmd;
mod predict_cmd;
mod serve;
mod status;

use clap::{Parser, Subcommand};

// The network pass allocates and frees large buffers at a high rate: see icam_app::allocator.
#[global_allocator]
static GLOBAL: icam_app::allocator::MiMalloc = icam_app::allocator::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "icam", version, about = "Explain a CNN's decision with Integrative CAM", long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Heatmap, overlay, per-layer panels and report of one image.
    Explain(explain_cmd::ExplainArgs),
    /// One figure with every method's map, and I-CAM with channel/spatial/no bias.
    Compare(compare_cmd::CompareArgs),
    /// Every method on every image of a dataset: localisation and faithfulness metrics.
    Eval(eval_cmd::EvalArgs),
    /// The four confidence/correctness cases of a dataset, with predicted- and true-class
    /// maps and nearest training examples, as one HTML report.
    Cases(cases_cmd::CasesArgs),
    /// Top-k classes of one image.
    Predict(predict_cmd::PredictArgs),
    /// Time the network pass and the methods (median of several runs, peak memory).
    Bench(bench_cmd::BenchArgs),
    /// Every tappable layer of a model (native or ONNX): operation, shape, aliases, defaults.
    Layers(layers_cmd::LayersArgs),
    /// A local web viewer: drop an image, explore its explanations in the browser.
    Serve(serve::ServeArgs),
    /// Fetch or list the models of the store.
    #[command(subcommand)]
    Model(model_cmd::ModelCmd),
}

fn main() -> std::process::ExitCode {
    icam_app::allocator::keep_freed_memory();
    let cli = Cli::parse();
    let r = match &cli.cmd {
        Cmd::Explain(a) => explain_cmd::run(a),
        Cmd::Compare(a) => compare_cmd::run(a),
        Cmd::Eval(a) => eval_cmd::run(a),
        Cmd::Cases(a) => cases_cmd::run(a),
        Cmd::Predict(a) => predict_cmd::run(a),
        Cmd::Bench(a) => bench_cmd::run(a),
        Cmd::Layers(a) => layers_cmd::run(a),
        Cmd::Serve(a) => serve::run(a),
        Cmd::Model(c) => model_cmd::run(c),
    };
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

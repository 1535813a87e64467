//! Which options each Python call takes: the clap structs of `icam_app::options`, combined as
//! the `icam` commands combine them.

use clap::{Args, Command};
use icam_app::options::{EvalOptions, ExplainOptions, ModelArgs, PreprocessArgs};

/// `Model.explain`: `icam explain`'s options less the model's own (which are `Model.load`'s),
/// keeping the preprocessing, which may change per call.
pub fn explain() -> Command {
    PreprocessArgs::augment_args(ExplainOptions::augment_args(Command::new("explain")))
}

/// `Model.load` / `Model.default`: the model options of every command.
pub fn load() -> Command {
    ModelArgs::augment_args(Command::new("load"))
}

/// `Model.predict`: the preprocessing.
pub fn predict() -> Command {
    PreprocessArgs::augment_args(Command::new("predict"))
}

/// `icam.evaluate` (with the model's options) or `Model.evaluate` (preprocessing only).
pub fn evaluate(with_model: bool) -> Command {
    let cmd = EvalOptions::augment_args(Command::new("evaluate"));
    if with_model {
        ModelArgs::augment_args(cmd)
    } else {
        PreprocessArgs::augment_args(cmd)
    }
}

/// Where a keyword that `call` does not take belongs, if it is another call's.
pub fn elsewhere(call: &'static str) -> impl Fn(&str) -> Option<String> {
    move |k: &str| {
        let has = |cmd: Command| {
            cmd.get_arguments()
                .any(|a| a.get_long().is_some_and(|l| crate::kwargs::keyword(l) == k))
        };
        if call != "load" && has(load()) {
            Some(format!("`{k}` is an option of icam.Model.load"))
        } else if call != "explain" && has(explain()) {
            Some(format!("`{k}` is an option of Model.explain"))
        } else {
            None
        }
    }
}

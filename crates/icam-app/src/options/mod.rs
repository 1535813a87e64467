//! The options of the front-ends, under the command line's names, defaults and help: clap
//! definitions that the `icam` command parses from its arguments and the Python package from
//! keyword arguments (`alpha=0.4` is `--alpha 0.4`, `no_resize=True` is `--no-resize`). One
//! list: an option added to one of these structs is at once a flag of every command that
//! flattens it and a keyword of the matching Python call, with the same default and the same
//! checks. Each struct converts to the library's plain values ([`crate::ModelSpec`],
//! [`crate::ExplainRequest`], [`crate::eval::EvalRequest`]); the rest of the crate knows
//! nothing about flags.
//!
//! - [`ModelArgs`] (with [`PreprocessArgs`]): which model, how images are prepared.
//! - [`IcamArgs`]: I-CAM's preset and options, the Grad-CAM family's ε, perturbation files.
//! - [`CamArgs`]: the CAM family's options (`--scaling`, smoothing, Finer-CAM, batch size).
//! - [`ExplainOptions`]: what `icam explain` explains (method, classes, layers, colormap).
//! - [`EvalOptions`]: what `icam eval` evaluates.

mod cam;
mod eval;
mod explain;
mod icam;
mod model;

pub use cam::{CamArgs, ScalingArg};
pub use eval::EvalOptions;
pub use explain::{ColormapArg, ExplainOptions, MethodArg};
pub use icam::{
    BiasArg, CandidatesArg, FormArg, FusionArg, IcamArgs, MdsArg, ModeArg, NormArg, PoolArg,
    PostArg, PresetArg, ScArg, SmoothArg, SpaceArg, TargetArg, UpsampleArg,
};
pub use model::{Dtype, ModelArgs, NormalizeArg, PreprocessArgs};

/// A clap error as one line, as front-ends without a terminal show it: its message, the
/// possible values and tips, without `error: `, the usage and the pointer to `--help`.
pub fn error_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("; ").trim_start_matches("error: ").to_string()
}

/// A clap value enum mirroring a library enum, with its conversion.
macro_rules! value_enum {
    ($name:ident => $target:ty { $($v:ident => $t:expr),* $(,)? }) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
        pub enum $name { $($v),* }
        impl From<$name> for $target {
            fn from(v: $name) -> Self { match v { $($name::$v => $t),* } }
        }
    };
}
pub(crate) use value_enum;

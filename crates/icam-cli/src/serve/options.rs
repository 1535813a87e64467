//! Option fields of a request, parsed by `icam explain`'s own clap definitions: a field `alpha`
//! with value `0.3` is `--alpha=0.3`, so names, values, defaults and messages are the CLI's,
//! and an option added to `icam explain` is accepted here without an edit. Options that name
//! files (`--noise`, `--out`, ...; any option whose value is a path) or choose the model (the
//! model flags: the server's model is chosen when it starts) are refused.

use std::collections::BTreeMap;

use clap::{ArgAction, Args, Command, CommandFactory, FromArgMatches, Parser, ValueHint};
use icam_app::ExplainRequest;
use icam_app::options::{ExplainOptions, ModelArgs, error_line};
use serde_json::{Value, json};

/// The options of `icam explain` that say what to explain and how (not the image, the
/// output folder or the model).
#[derive(Parser, Debug)]
#[command(name = "icam explain", no_binary_name = true, disable_help_flag = true)]
struct Fields {
    #[command(flatten)]
    options: ExplainOptions,
}

pub struct Options {
    cmd: Command,
    /// Refused options (long name → why).
    refused: BTreeMap<String, String>,
}

/// The value a flag field may take: true (`true`, `1`, `on`, `yes`, empty) or false.
fn flag_value(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "true" | "1" | "on" | "yes" => Some(true),
        "false" | "0" | "off" | "no" => Some(false),
        _ => None,
    }
}

impl Options {
    pub fn new() -> Self {
        let mut cmd = Fields::command().color(clap::ColorChoice::Never);
        cmd.build();
        let model_flags = ModelArgs::augment_args(Command::new("model"));
        let mut refused = BTreeMap::new();
        for a in model_flags.get_arguments() {
            if let Some(l) = a.get_long() {
                refused.insert(
                    l.to_string(),
                    format!(
                        "--{l} chooses the model, which the server loads when it starts (icam serve --{l} ...)"
                    ),
                );
            }
        }
        for a in cmd.get_arguments() {
            let names_a_path = matches!(
                a.get_value_hint(),
                ValueHint::AnyPath | ValueHint::FilePath | ValueHint::DirPath
            );
            if let (Some(l), true) = (a.get_long(), names_a_path) {
                refused.entry(l.to_string()).or_insert_with(|| {
                    format!("--{l} names a file; the server reads and writes no files")
                });
            }
        }
        Self { cmd, refused }
    }

    fn accepted(&self) -> impl Iterator<Item = &clap::Arg> {
        self.cmd
            .get_arguments()
            .filter(|a| a.get_long().is_some_and(|l| !self.refused.contains_key(l)))
    }

    /// The request of these fields, checked as `icam explain` checks its flags before loading
    /// a model; the error is one line.
    pub fn parse(&self, fields: &[(String, String)]) -> Result<ExplainRequest, String> {
        let mut argv: Vec<String> = Vec::new();
        for (name, value) in fields {
            if let Some(why) = self.refused.get(name) {
                return Err(why.clone());
            }
            let plain = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !name.starts_with('-');
            if !plain {
                return Err(format!("unknown option `{name}`"));
            }
            let arg = self.accepted().find(|a| a.get_long() == Some(name));
            let is_flag = arg.is_some_and(|a| matches!(a.get_action(), ArgAction::SetTrue));
            if is_flag {
                match flag_value(value) {
                    Some(true) => argv.push(format!("--{name}")),
                    Some(false) => {}
                    None => {
                        return Err(format!(
                            "--{name} is a flag: give true or false, not `{value}`"
                        ));
                    }
                }
            } else {
                // `--name=value`: a value is never read as another option.
                argv.push(format!("--{name}={value}"));
            }
        }
        let matches = self
            .cmd
            .clone()
            .try_get_matches_from(&argv)
            .map_err(|e| error_line(&e))?;
        let fields = Fields::from_arg_matches(&matches).map_err(|e| error_line(&e))?;
        let req = fields.options.request();
        req.validate().map_err(|e| format!("{e:#}"))?;
        Ok(req)
    }

    /// The request without fields, as JSON (its I-CAM configuration, method and colormap).
    pub fn defaults(&self) -> Value {
        let req = self.parse(&[]).expect("the defaults parse");
        json!({
            "method": req.method,
            "colormap": req.colormap,
            "config": req.config,
        })
    }

    /// The presets a request may name: the values of the option `preset`, if `icam explain`
    /// has one, each with the I-CAM configuration it stands for (so that the page's sliders
    /// start at its α and T).
    pub fn presets(&self) -> Vec<Value> {
        self.value_configs("preset")
    }

    /// `{name, config}` for each possible value of `option`: the configuration of a request
    /// that sets only that value.
    fn value_configs(&self, option: &str) -> Vec<Value> {
        let Some(arg) = self.accepted().find(|a| a.get_long() == Some(option)) else {
            return Vec::new();
        };
        arg.get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .filter_map(|v| {
                let name = v.get_name();
                let req = self.parse(&[(option.to_string(), name.to_string())]).ok()?;
                Some(json!({ "name": name, "config": req.config }))
            })
            .collect()
    }

    /// The accepted options: name, help, possible values, default, and whether a flag.
    pub fn describe(&self) -> Vec<Value> {
        self.accepted()
            .map(|a| {
                let values: Vec<String> = a
                    .get_possible_values()
                    .iter()
                    .filter(|v| !v.is_hide_set())
                    .map(|v| v.get_name().to_string())
                    .collect();
                let default: Vec<String> = a
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect();
                json!({
                    "name": a.get_long(),
                    "help": a.get_help().map(|h| h.to_string()),
                    "values": values,
                    "default": default.first(),
                    "flag": matches!(a.get_action(), ArgAction::SetTrue),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use icam::methods::icam::Bias;
    use icam::similarity::MdsForm;

    use super::*;

    fn f(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn fields_parse_as_the_cli_flags() {
        let o = Options::new();
        let d = o.parse(&[]).unwrap();
        let cli = ExplainOptions::augment_args(Command::new("x"))
            .no_binary_name(true)
            .try_get_matches_from(Vec::<String>::new())
            .unwrap();
        let cli = ExplainOptions::from_arg_matches(&cli).unwrap().request();
        assert_eq!(d.method, cli.method);
        assert_eq!(d.config, cli.config);
        let r = o
            .parse(&f(&[
                ("class", "tiger cat,285"),
                ("class", "1"),
                ("alpha", "0.3"),
                ("threshold", "-0.5e-1"),
                ("bias", "spatial"),
                ("no-clamp-mds", "on"),
                ("layers", "a,b"),
            ]))
            .err();
        // A negative threshold is refused by I-CAM's check, with its message.
        assert_eq!(r.unwrap(), "--threshold must lie in (0, 1], got -0.05");
        let r = o
            .parse(&f(&[
                ("method", "gradcam"),
                ("class", "tiger cat,285"),
                ("class", "1"),
                ("alpha", "0.3"),
                ("bias", "spatial"),
                ("no-clamp-mds", "on"),
                ("layers", "a,b"),
            ]))
            .unwrap();
        assert_eq!(r.method, "gradcam");
        assert_eq!(r.classes, vec!["tiger cat", "285", "1"]);
        assert_eq!(r.layers, vec!["a", "b"]);
        assert_eq!(r.config.alpha, 0.3);
        assert_eq!(r.config.bias, Bias::Spatial);
        assert_eq!(r.config.mds, MdsForm::Unclamped);
        assert_ne!(
            o.parse(&f(&[("no-clamp-mds", "off")])).unwrap().config.mds,
            MdsForm::Unclamped
        );
        // A value that looks like an option is a value.
        let r = o.parse(&f(&[("class", "--out")])).unwrap();
        assert_eq!(r.classes, vec!["--out"]);
    }

    #[test]
    fn bad_fields_get_one_line() {
        let o = Options::new();
        let e = |pairs: &[(&str, &str)]| o.parse(&f(pairs)).unwrap_err();
        assert!(e(&[("frobnicate", "1")]).starts_with("unexpected argument '--frobnicate' found"));
        assert!(
            e(&[("alfa", "1")]).starts_with("unexpected argument '--alfa' found; tip:"),
            "{}",
            e(&[("alfa", "1")])
        );
        let m = e(&[("method", "nope")]);
        assert!(
            m.starts_with("invalid value 'nope' for '--method <METHOD>'; [possible values: icam, "),
            "{m}"
        );
        assert!(e(&[("alpha", "x")]).starts_with("invalid value 'x' for '--alpha <ALPHA>'"));
        assert_eq!(e(&[("Alpha", "1")]), "unknown option `Alpha`");
        assert_eq!(e(&[("--alpha", "1")]), "unknown option `--alpha`");
        assert_eq!(e(&[("", "1")]), "unknown option ``");
        assert_eq!(
            e(&[("no-clamp-mds", "maybe")]),
            "--no-clamp-mds is a flag: give true or false, not `maybe`"
        );
        assert_eq!(
            e(&[("n", "4097")]),
            "--n must be at most 4096 (the noise and mask of every perturbation are held in memory), got 4097"
        );
        assert!(e(&[("alpha", "1.5")]).contains("alpha"));
        assert!(e(&[("help", "")]).starts_with("unexpected argument '--help'"));
        // Files and the model are out of reach.
        for name in ["out", "dump-intermediates", "image"] {
            assert!(e(&[(name, "x")]).starts_with(&format!("unexpected argument '--{name}'")));
        }
        for name in ["noise", "mask"] {
            assert_eq!(
                e(&[(name, "/etc/passwd")]),
                format!("--{name} names a file; the server reads and writes no files")
            );
        }
        for name in [
            "weights",
            "model",
            "model-dir",
            "arch",
            "device",
            "dtype",
            "no-resize",
        ] {
            assert!(e(&[(name, "x")]).starts_with(&format!("--{name} chooses the model")));
        }
    }

    #[test]
    fn described_options_are_the_accepted_ones() {
        let o = Options::new();
        let d = o.describe();
        let names: Vec<&str> = d.iter().map(|v| v["name"].as_str().unwrap()).collect();
        for n in [
            "method",
            "class",
            "layers",
            "colormap",
            "alpha",
            "threshold",
            "seed",
        ] {
            assert!(names.contains(&n), "{n} in {names:?}");
        }
        for n in ["noise", "out", "weights", "help"] {
            assert!(!names.contains(&n), "{n} in {names:?}");
        }
        let method = d.iter().find(|v| v["name"] == "method").unwrap();
        assert_eq!(method["values"][0], "icam");
        assert_eq!(method["default"], "icam");
        let flag = d.iter().find(|v| v["name"] == "no-clamp-mds").unwrap();
        assert_eq!(flag["flag"], true);
        assert_eq!(o.defaults()["method"], "icam");
    }

    /// Presets are listed as the values of an option, each with its configuration (`bias`
    /// shows the mechanism on a plain option).
    #[test]
    fn option_values_come_with_their_configuration() {
        let o = Options::new();
        let biases = o.value_configs("bias");
        let names: Vec<&str> = biases.iter().map(|b| b["name"].as_str().unwrap()).collect();
        assert!(
            names.contains(&"spatial") && names.contains(&"channel"),
            "{names:?}"
        );
        for b in &biases {
            assert_eq!(b["config"]["bias"], b["name"]);
            assert_eq!(b["config"]["alpha"], o.defaults()["config"]["alpha"]);
        }
        assert!(o.value_configs("alpha").is_empty());
        assert!(o.value_configs("noise").is_empty());
        let presets: Vec<Value> = o.presets();
        let names: Vec<&str> = presets
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"paper") && names.contains(&"recommended"),
            "{names:?}"
        );
        for p in &presets {
            assert_eq!(p["config"]["preset"], p["name"]);
        }
    }
}

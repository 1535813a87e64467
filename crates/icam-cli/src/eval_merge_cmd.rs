//! `icam eval merge DIR... --out DIR`: the folders of shards evaluated separately put back
//! together. The work is `icam_app::eval::merge`; this is its flags and printing.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use icam_app::Progress;
use icam_app::eval::{MergeRequest, merge};

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The evaluation folders (`icam eval --out`) of the shards, in any order.
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// The merged folder: per_image.csv, icam_layers.csv, summary.md/csv, layer prominence.
    #[arg(long)]
    pub out: PathBuf,
    /// Merge what is there when images are missing (a shard not given or not finished),
    /// with a warning, instead of refusing.
    #[arg(long)]
    pub allow_missing: bool,
}

pub fn run(a: &MergeArgs) -> Result<()> {
    let req = MergeRequest {
        dirs: a.dirs.clone(),
        out: a.out.clone(),
        allow_missing: a.allow_missing,
    };
    let outcome = merge(&req, &mut |p| match p {
        Progress::Warning(w) => eprintln!("warning: {w}"),
        Progress::Note(n) => eprintln!("{n}"),
        _ => {}
    })?;
    println!("{}", outcome.summary_md);
    if let Some(p) = &outcome.prominence {
        eprintln!("layer prominence: {}", p.display());
    }
    eprintln!("per-image rows in {}", outcome.per_image.display());
    Ok(())
}

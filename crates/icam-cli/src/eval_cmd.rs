//! `icam eval`: every method on every image of a dataset, streamed, resumable, shardable;
//! a per-image CSV and a summary (mean ± standard error per method and metric). The work is
//! `icam_app::eval`; this is its flags, progress bar and printing. `icam eval merge` is in
//! `eval_merge_cmd`.

use anyhow::Result;
use clap::{Args, Subcommand};
use icam_app::Progress;
use icam_app::eval::EvalPlan;
use icam_app::options::{EvalOptions, ModelArgs};

use crate::eval_merge_cmd::{self, MergeArgs};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub sub: Option<EvalSub>,
    #[command(flatten)]
    pub options: EvalOptions,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `icam eval merge`.
#[derive(Subcommand, Debug)]
pub enum EvalSub {
    /// Merge the folders of shards evaluated separately into one evaluation.
    ///
    /// The shards (a cluster job's tasks, `--shard i/N` or `--shard auto`) must come from the
    /// same dataset, model, methods and options, and hold every image once. The per-image rows
    /// are written in dataset order, as one process would have written them, then the summary
    /// and the layer prominence.
    Merge(MergeArgs),
}

pub fn run(a: &EvalArgs) -> Result<()> {
    if let Some(EvalSub::Merge(m)) = &a.sub {
        return eval_merge_cmd::run(m);
    }
    let shard = a.options.shard()?;
    if let Some(s) = shard
        .as_ref()
        .filter(|_| a.options.shard.as_deref() == Some("auto"))
    {
        eprintln!("shard {}/{} from {}", s.index, s.count, s.source);
    }
    let plan = EvalPlan::new(a.options.request(shard.as_ref())?)?;
    let loaded = a.model.load()?;
    let mut pb = indicatif::ProgressBar::hidden();
    let outcome = plan.run(&loaded, &mut |p| match p {
        Progress::Begin(_, n) => {
            pb = indicatif::ProgressBar::new(n as u64);
            pb.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} images  [{elapsed_precise} < {eta_precise}]  {msg}",
                )
                .expect("valid template"),
            );
        }
        Progress::Item(name) => pb.set_message(name.to_string()),
        Progress::Step => pb.inc(1),
        Progress::End(_) => pb.finish_and_clear(),
        Progress::Warning(w) => pb.suspend(|| eprintln!("warning: {w}")),
        Progress::Note(n) => eprintln!("{n}"),
    })?;
    println!("{}", outcome.summary_md);
    if let Some(p) = &outcome.prominence {
        eprintln!("layer prominence: {}", p.display());
    }
    let rate = if outcome.evaluated > 0 && outcome.seconds > 0.0 {
        format!(
            " ({:.2} images/s, {:.2} s per image)",
            outcome.evaluated as f64 / outcome.seconds,
            outcome.seconds / outcome.evaluated as f64
        )
    } else {
        String::new()
    };
    eprintln!(
        "{} images in {:.1} s{rate}; per-image rows in {}",
        outcome.evaluated,
        outcome.seconds,
        outcome.per_image.display()
    );
    Ok(())
}

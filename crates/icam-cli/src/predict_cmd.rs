//! `icam predict`: the top-k classes of one image.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use icam::explain::argmax;
use icam::similarity::log_softmax;
use serde_json::json;

use crate::model_args::ModelArgs;

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// The image (PNG or JPEG).
    pub image: PathBuf,
    /// How many classes to show.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// Print JSON ({"top": [{"class", "logit", "prob", "label"}, ...]}) on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn run(a: &PredictArgs) -> Result<()> {
    anyhow::ensure!(a.top_k >= 1, "--top-k must be at least 1");
    let loaded = a.model.load()?;
    let px = loaded.open_image(&a.image)?.pixels;
    let input = loaded
        .normalization
        .to_model_input(&px, a.model.precision());
    let logits = icam_models::logits(loaded.model.net.as_ref(), &input)?.to_f64();
    anyhow::ensure!(
        logits.iter().all(|v| v.is_finite()),
        "the network produced NaN or infinite logits"
    );
    let lsm = log_softmax(&logits);
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&x, &y| logits[y].total_cmp(&logits[x]).then(x.cmp(&y)));
    debug_assert_eq!(order[0], argmax(&logits));
    let top: Vec<_> = order
        .iter()
        .take(a.top_k)
        .map(|&c| {
            json!({
                "class": c,
                "logit": logits[c],
                "prob": lsm[c].exp(),
                "label": loaded.labels.as_ref().and_then(|l| l.name(c)),
            })
        })
        .collect();
    if a.json {
        let out = json!({
            "top": top,
            "image": a.image.display().to_string(),
            "arch": loaded.model.net.arch(),
            "weights_file": loaded.weights.display().to_string(),
            "image_hw": [px.height, px.width],
            "geometry": px.geometry,
            "normalize": loaded.normalization.name(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for (r, &c) in order.iter().take(a.top_k).enumerate() {
            println!(
                "{:>2}. {:<40} logit {:>9.4}  p={:.4}",
                r + 1,
                loaded.describe(c),
                logits[c],
                lsm[c].exp()
            );
        }
    }
    Ok(())
}

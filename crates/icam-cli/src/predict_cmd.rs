//! `icam predict`: the top-k classes of one image.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use icam_app::options::ModelArgs;

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
    let image = loaded.open_image(&a.image)?;
    let top = loaded.predict(&image, a.top_k)?;
    let px = &image.pixels;
    if a.json {
        let out = json!({
            "top": top,
            "image": image.name,
            "arch": loaded.net().arch(),
            "weights_file": loaded.weights.display().to_string(),
            "image_hw": [px.height, px.width],
            "geometry": px.geometry,
            "normalize": loaded.normalization.name(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for (r, p) in top.iter().enumerate() {
            println!(
                "{:>2}. {:<40} logit {:>9.4}  p={:.4}",
                r + 1,
                loaded.describe(p.class),
                p.logit,
                p.prob
            );
        }
    }
    Ok(())
}

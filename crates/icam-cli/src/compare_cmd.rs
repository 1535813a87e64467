//! `icam compare`: one figure with the image and every method's map (the paper's Fig. 3) and
//! I-CAM with channel, spatial and no bias (Fig. 2), from one network pass per method.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use icam::methods::icam::Bias;
use icam::render::{Colormap, Panel, input_picture, layer_grid};
use icam::{
    Map, Perturbations, Subject, Target, explain_baseline, finish_icam, methods, prepare_icam,
};
use serde_json::json;

use crate::explain_cmd::{ColormapArg, IcamArgs};
use crate::model_args::ModelArgs;
use icam_app::output::Outputs;

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The image (PNG or JPEG).
    pub image: PathBuf,
    /// Output folder: compare.png, compare.json and one heatmap per method.
    #[arg(long, default_value = "icam-compare")]
    pub out: PathBuf,
    /// Class to explain: index, WordNet id or name (default: the predicted class).
    #[arg(long = "class", allow_hyphen_values = true)]
    pub class: Option<String>,
    #[arg(long, value_enum, default_value = "inferno")]
    pub colormap: ColormapArg,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub icam: IcamArgs,
}

pub fn run(a: &CompareArgs) -> Result<()> {
    let cfg = a.icam.config();
    cfg.validate()?;
    a.icam.validate_baseline()?;
    let loaded = a.model.load()?;
    let net = loaded.model.net.as_ref();
    let target = match &a.class {
        Some(c) => Target::Class(loaded.parse_class(c)?),
        None => Target::Predicted,
    };
    let px = loaded.open_image(&a.image)?.pixels;
    let s = Subject {
        net,
        image: &px,
        normalization: loaded.normalization,
    };
    let cmap: Colormap = a.colormap.into();
    let pic = input_picture(&px);
    let mut out = Outputs::default();
    let mut panels = vec![Panel {
        map: Map::zeros(1, 1),
        lines: vec![
            "input".into(),
            a.image
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ],
        frame: [90, 90, 90],
    }];
    let mut rows = Vec::new();
    let layers = net.candidate_layers();
    let pert = Perturbations::generate(cfg.n, px.height, px.width, cfg.alpha, cfg.seed);
    let prep = prepare_icam(&s, &layers, &cfg, target, &pert, &mut |_| {})?;
    let class = prep.class;
    for (name, bias) in [
        ("I-CAM channel", Bias::Channel),
        ("I-CAM spatial", Bias::Spatial),
        ("I-CAM no bias", Bias::None),
    ] {
        let r = finish_icam(
            &prep,
            &icam::IcamConfig {
                bias,
                ..cfg.clone()
            },
        )?;
        let file = format!("heatmap_icam_{}.npy", format!("{bias:?}").to_lowercase());
        out.npy_f32(a.out.join(&file), &[px.height, px.width], &r.heat.data)?;
        panels.push(Panel {
            map: r.heat.clone(),
            lines: vec![
                name.into(),
                format!(
                    "{} layers{}",
                    r.report.selected_layers.len(),
                    if r.report.selection.degenerate {
                        " (degenerate)"
                    } else {
                        ""
                    }
                ),
            ],
            frame: [230, 200, 40],
        });
        rows.push(json!({"method": name, "file": file, "selected_layers": r.report.selected_layers, "degenerate": r.report.selection.degenerate, "warnings": r.report.warnings}));
    }
    let bl = vec![net.baseline_layer()];
    for m in ["gradcam", "gradcampp", "layercam"] {
        let method = methods::baseline(m, a.icam.gradcampp_eps).expect("baseline");
        let r = explain_baseline(
            &s,
            method.as_ref(),
            &bl,
            &[Target::Class(class)],
            a.icam.gradcampp_eps,
        )?
        .remove(0);
        let file = format!("heatmap_{m}.npy");
        out.npy_f32(a.out.join(&file), &[px.height, px.width], &r.heat.data)?;
        panels.push(Panel {
            map: r.heat,
            lines: vec![m.into(), bl[0].clone()],
            frame: [90, 90, 90],
        });
        rows.push(json!({"method": m, "file": file, "layers": bl}));
    }
    // The first panel shows the plain input.
    let grid = layer_grid(&pic, &panels, 4, cmap);
    let mut grid = grid;
    let (pw, ph) = (pic.width(), pic.height());
    for y in 0..ph {
        for x in 0..pw {
            grid.put_pixel(6 + x, 6 + y, *pic.get_pixel(x, y));
        }
    }
    out.png(a.out.join("compare.png"), &grid)?;
    out.json(
        a.out.join("compare.json"),
        &json!({
            "image": a.image.display().to_string(), "arch": net.arch(),
            "target_class": class, "class_name": loaded.labels.as_ref().and_then(|l| l.name(class)),
            "prob_c": icam::explain::probability(&prep.logits[0], class),
            "config": cfg, "methods": rows,
        }),
    )?;
    out.commit()?;
    println!(
        "{}: {} — compare.png",
        a.out.display(),
        loaded.describe(class)
    );
    Ok(())
}

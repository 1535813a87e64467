//! One figure with the image and every method's map (the paper's Fig. 3) and I-CAM with
//! channel, spatial and no bias (Fig. 2), from one network pass per method.

use std::path::{Path, PathBuf};

use anyhow::Result;
use icam::methods::icam::Bias;
use icam::render::{Colormap, Panel, input_picture, layer_grid};
use icam::{IcamConfig, Map, Perturbations, Target, explain_cam, finish_icam, prepare_icam};
use image::RgbImage;
use serde_json::{Value, json};

use crate::explanation::{Method, check_gradcampp_eps, method};
use crate::model::{InputImage, LoadedModel};
use crate::output::Outputs;

/// The methods of the comparison besides I-CAM.
pub const CAM_METHODS: [&str; 3] = ["gradcam", "gradcampp", "layercam"];

/// The comparison of one image.
pub struct Comparison {
    /// The class explained.
    pub class: usize,
    /// The figure: the input, then one panel per map.
    pub figure: RgbImage,
    /// Per map: its file name (`heatmap_<method>.npy`) and the map (model-input size).
    pub heatmaps: Vec<(String, Map)>,
    /// The content of `compare.json`.
    pub report: Value,
}

/// Compare the methods on `image` for `target` (I-CAM's options from `cfg`, whose bias is
/// replaced by each of the three).
pub fn compare(
    model: &LoadedModel,
    image: &InputImage,
    target: Target,
    cfg: &IcamConfig,
    gradcampp_eps: f64,
    cmap: Colormap,
) -> Result<Comparison> {
    cfg.validate()?;
    check_gradcampp_eps(gradcampp_eps)?;
    let net = model.net();
    let px = &*image.pixels;
    let s = model.subject(px);
    let pic = input_picture(px);
    let mut heatmaps = Vec::new();
    let mut panels = vec![Panel {
        map: Map::zeros(1, 1),
        lines: vec![
            "input".into(),
            Path::new(&image.name)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ],
        frame: [90, 90, 90],
    }];
    let mut rows = Vec::new();
    let layers = cfg.candidate_layers(net);
    let pert = Perturbations::generate(cfg.n, px.height, px.width, cfg.alpha, cfg.seed);
    let prep = prepare_icam(&s, &layers, cfg, target, &pert, &mut |_| {})?;
    let class = prep.class;
    for (name, bias) in [
        ("I-CAM channel", Bias::Channel),
        ("I-CAM spatial", Bias::Spatial),
        ("I-CAM no bias", Bias::None),
    ] {
        let r = finish_icam(
            &prep,
            &IcamConfig {
                bias,
                ..cfg.clone()
            },
        )?;
        let file = format!("heatmap_icam_{}.npy", format!("{bias:?}").to_lowercase());
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
        heatmaps.push((file, r.heat));
    }
    let bl = vec![net.baseline_layer()];
    for m in CAM_METHODS {
        let Method::Cam(cam) = method(m, gradcampp_eps)? else {
            unreachable!("{m} is a CAM method");
        };
        let r = explain_cam(&s, &cam, &bl, &[Target::Class(class)], &mut |_| {})?.remove(0);
        let file = format!("heatmap_{m}.npy");
        panels.push(Panel {
            map: r.heat.clone(),
            lines: vec![m.into(), bl[0].clone()],
            frame: [90, 90, 90],
        });
        rows.push(json!({"method": m, "file": file, "layers": bl}));
        heatmaps.push((file, r.heat));
    }
    // The first panel shows the plain input.
    let mut figure = layer_grid(&pic, &panels, 4, cmap);
    let (pw, ph) = (pic.width(), pic.height());
    for y in 0..ph {
        for x in 0..pw {
            figure.put_pixel(6 + x, 6 + y, *pic.get_pixel(x, y));
        }
    }
    let report = json!({
        "image": image.name, "arch": net.arch(),
        "target_class": class, "class_name": model.class_name(class),
        "prob_c": icam::explain::probability(&prep.logits[0], class),
        "config": cfg, "methods": rows,
    });
    Ok(Comparison {
        class,
        figure,
        heatmaps,
        report,
    })
}

impl Comparison {
    /// Add `heatmap_<method>.npy` for every map, `compare.png` and `compare.json` to `out`.
    pub fn stage(&self, out: &mut Outputs, dir: &Path) -> Result<()> {
        for (file, heat) in &self.heatmaps {
            out.npy_f32(dir.join(file), &[heat.h, heat.w], &heat.data)?;
        }
        out.png(dir.join("compare.png"), &self.figure)?;
        out.json(dir.join("compare.json"), &self.report)
    }

    /// Write the files into `dir`, all or none.
    pub fn save(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut out = Outputs::default();
        self.stage(&mut out, dir)?;
        out.commit()
    }
}

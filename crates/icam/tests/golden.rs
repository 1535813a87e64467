//! Every golden of the reference (`shared/reference/fixtures/golden/manifest.json`) reproduced
//! through the library, and the intermediates of `icam_default_f64_dump` checked one by one,
//! so that a failure points at the equation that is wrong.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use icam::config::{IcamConfig, ScoreTarget, Space};
use icam::fusion::LayerPost;
use icam::methods::icam::{Bias, ChannelBiasForm};
use icam::similarity::MdsForm;
use icam::{
    Perturbations, Preset, Subject, Target, explain_baseline, explain_icam, methods, rescore_icam,
};
use icam_models::{Model, Normalization, PixelImage, Precision, cpu, load};

fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ICAM_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    if dir.join("reference/fixtures/golden/manifest.json").exists() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: shared reference goldens not found at {} (set ICAM_SHARED)",
            dir.display()
        );
        None
    }
}

fn npy(path: &Path) -> (Vec<usize>, Vec<f64>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let f = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape: Vec<usize> = f.shape().iter().map(|&d| d as usize).collect();
    let data = match f.dtype() {
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 8 => {
            f.into_vec::<f64>().unwrap()
        }
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float => f
            .into_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect(),
        _ => f
            .into_vec::<u8>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect(),
    };
    (shape, data)
}

/// The reference's noise and mask files as perturbations.
fn perturbations(noise: &Path, mask: &Path) -> Perturbations {
    let (ns, nv) = npy(noise);
    let (ms, mv) = npy(mask);
    let source = icam::perturb::PerturbationSource {
        noise: noise.display().to_string(),
        mask: mask.display().to_string(),
    };
    Perturbations::from_arrays(
        (&ns, nv.iter().map(|&v| v as f32).collect()),
        (&ms, mv),
        source,
    )
    .unwrap()
}

struct Case {
    name: String,
    opts: HashMap<String, String>,
    json: serde_json::Value,
    heat: Vec<f64>,
}

fn cases(shared: &Path) -> Vec<Case> {
    let g = shared.join("reference/fixtures/golden");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(g.join("manifest.json")).unwrap()).unwrap();
    m["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = c["case"].as_str().unwrap().to_string();
            let argv: Vec<String> = c["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            let mut opts = HashMap::new();
            let mut i = 1;
            while i < argv.len() {
                let k = argv[i].trim_start_matches("--").to_string();
                let v = argv.get(i + 1).cloned().unwrap_or_default();
                opts.insert(k, v);
                i += 2;
            }
            let json = serde_json::from_str(
                &std::fs::read_to_string(g.join(format!("{name}.json"))).unwrap(),
            )
            .unwrap();
            let heat = npy(&g.join(format!("{name}.npy"))).1;
            Case {
                name,
                opts,
                json,
                heat,
            }
        })
        .collect()
}

fn config(o: &HashMap<String, String>) -> IcamConfig {
    let mut c = Preset::Paper.config();
    let get = |k: &str| o.get(k).map(String::as_str);
    if let Some(v) = get("alpha") {
        c.alpha = v.parse().unwrap();
    }
    if let Some(v) = get("bias") {
        c.bias = match v {
            "none" => Bias::None,
            "spatial" => Bias::Spatial,
            _ => Bias::Channel,
        };
    }
    if get("channel-bias-form") == Some("dot") {
        c.channel_bias_form = ChannelBiasForm::Dot;
    }
    if get("layer-post") == Some("relu_minmax") {
        c.layer_post = LayerPost::ReluMinmax;
    }
    if get("space") == Some("pixel") {
        c.space = Space::Pixel;
    }
    if get("score-target") == Some("logit") {
        c.score_target = ScoreTarget::Logit;
    }
    let known = [
        "weights",
        "threads",
        "method",
        "noise",
        "mask",
        "out",
        "dtype",
        "dump-intermediates",
        "image",
        "layers",
        "alpha",
        "bias",
        "channel-bias-form",
        "layer-post",
        "space",
        "score-target",
    ];
    for k in o.keys() {
        assert!(
            known.contains(&k.as_str()),
            "golden uses option --{k} this test does not map"
        );
    }
    c
}

struct Env {
    shared: PathBuf,
    models: HashMap<&'static str, Model>,
}

impl Env {
    fn new(shared: PathBuf) -> Self {
        let w = shared.join("reference/fixtures/resnet50_seed0.safetensors");
        let mut models = HashMap::new();
        models.insert("float32", load(&w, None, &cpu(), Precision::F32).unwrap());
        models.insert("float64", load(&w, None, &cpu(), Precision::F64).unwrap());
        Self { shared, models }
    }

    fn image(&self, o: &HashMap<String, String>) -> PixelImage {
        let rel = o
            .get("image")
            .cloned()
            .unwrap_or("fixtures/chelsea224.png".into());
        let p = self.shared.join("reference").join(rel);
        PixelImage::from_rgb(&icam_models::preprocess::load_rgb(&p).unwrap())
    }
}

fn stats(a: &[f64], b: &[f64]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| (x - y).abs()).collect();
    (
        d.iter().copied().fold(0.0, f64::max),
        d.iter().sum::<f64>() / d.len() as f64,
    )
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

fn run_case(env: &Env, case: &Case) {
    let o = &case.opts;
    let dtype = o.get("dtype").map(String::as_str).unwrap_or("float32");
    let f64run = dtype == "float64";
    let model = &env.models[if f64run { "float64" } else { "float32" }];
    let img = env.image(o);
    let s = Subject {
        net: model.net.as_ref(),
        image: &img,
        normalization: Normalization::ImageNet,
    };
    let method = o["method"].as_str();
    // The golden heat maps are stored as float32: a float64 run can only agree to half an ulp
    // of float32 at 1.0 (3e-8); the float64 values of the JSON are compared at 1e-9 instead.
    let (max_tol, mean_tol) = if f64run { (6e-8, 3e-8) } else { (1e-2, 1e-3) };
    if method == "icam" {
        let cfg = config(o);
        let fx = env.shared.join("reference");
        let p = perturbations(&fx.join(&o["noise"]), &fx.join(&o["mask"]));
        let layers = model.net.candidate_layers();
        let r = explain_icam(&s, &layers, &cfg, Target::Predicted, &p, &mut |_| {}).unwrap();
        let j = &case.json;
        assert_eq!(
            r.report.target_class as u64,
            j["target_class"].as_u64().unwrap(),
            "{}",
            case.name
        );
        // Native names; an ONNX model resolves them through its module-path aliases.
        let sel: Vec<String> = j["selected_layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| model.net.resolve_layer(v.as_str().unwrap()).unwrap())
            .collect();
        assert_eq!(r.report.selected_layers, sel, "{}: selection", case.name);
        let score_tol = if f64run { 1e-9 } else { 1e-2 };
        for (li, s) in j["layer_scores"].as_array().unwrap().iter().enumerate() {
            let s = s.as_f64().unwrap();
            let d = if s == 0.0 {
                r.report.layer_scores[li].abs()
            } else {
                rel(r.report.layer_scores[li], s)
            };
            assert!(
                d <= score_tol,
                "{}: layer {li} score {} vs {s}",
                case.name,
                r.report.layer_scores[li]
            );
        }
        for (i, w) in j["perturbation_weights"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let w = w.as_f64().unwrap();
            let tol = if f64run { 1e-9 } else { 1e-4 };
            assert!(
                (r.report.perturbation_weights[i] - w).abs() <= tol * w.abs().max(1.0),
                "{}: w_{i}",
                case.name
            );
        }
        if f64run {
            for (i, p) in j["perturbations"].as_array().unwrap().iter().enumerate() {
                assert!(
                    rel(r.report.perturbations[i].ssim, p["ssim"].as_f64().unwrap()) < 1e-12,
                    "{}: ssim {i}",
                    case.name
                );
                assert!(
                    (r.report.perturbations[i].mdd - p["mdd"].as_f64().unwrap()).abs() < 1e-9,
                    "{}: mdd {i}",
                    case.name
                );
            }
            for (li, l) in j["layers"].as_array().unwrap().iter().enumerate() {
                let st = &r.report.layers[li].stats;
                for (k, v) in [
                    ("base_min", st.base_min),
                    ("base_max", st.base_max),
                    ("bias_min", st.bias_min),
                    ("bias_max", st.bias_max),
                ] {
                    let g = l[k].as_f64().unwrap();
                    assert!(
                        (v - g).abs() <= 1e-9 * g.abs().max(1e-3),
                        "{}: layer {li} {k} {v} vs {g}",
                        case.name
                    );
                }
            }
            let fmin = j["fused_min"].as_f64().unwrap();
            let d = (r.report.fused_min - fmin).abs();
            assert!(
                d <= 1e-9 * fmin.abs().max(1.0),
                "{}: fused_min {} vs {fmin}",
                case.name,
                r.report.fused_min
            );
        }
        let (mx, mean) = stats(&r.heat.data, &case.heat);
        eprintln!("{}: heat max|d| {mx:.2e} mean {mean:.2e}", case.name);
        assert!(
            mx <= max_tol && mean <= mean_tol,
            "{}: heat max {mx:e} mean {mean:e}",
            case.name
        );
    } else {
        let layers: Vec<String> = match o.get("layers") {
            Some(l) => l.split(',').map(str::to_string).collect(),
            None => vec![model.net.baseline_layer()],
        };
        let m = methods::baseline(method, 0.0).unwrap();
        let r = explain_baseline(&s, m.as_ref(), &layers, &[Target::Predicted], 0.0)
            .unwrap()
            .remove(0);
        assert_eq!(
            r.target_class as u64,
            case.json["target_class"].as_u64().unwrap()
        );
        let tol_logit = if f64run { 1e-12 } else { 1e-5 };
        assert!(rel(r.logit_c, case.json["logit_c"].as_f64().unwrap()) < tol_logit);
        let (mx, mean) = stats(&r.heat.data, &case.heat);
        eprintln!("{}: heat max|d| {mx:.2e} mean {mean:.2e}", case.name);
        assert!(
            mx <= max_tol && mean <= mean_tol,
            "{}: heat max {mx:e} mean {mean:e}",
            case.name
        );
    }
}

#[test]
fn every_golden_of_the_manifest() {
    let Some(shared) = shared_dir() else { return };
    let env = Env::new(shared.clone());
    let all = cases(&shared);
    assert_eq!(all.len(), 15);
    for c in &all {
        run_case(&env, c);
    }
}

/// ONNX exports of the same ResNet-50 (made by `tools/make_onnx_fixtures.py --resnet50` into
/// `target/onnx-fixtures/`, or `ICAM_ONNX_FIXTURES`) reproduce every golden through their
/// default layers: the TorchScript export with BatchNorm kept in float32 and float64; the
/// exports with BatchNorm folded by the exporter (in float32) at the float32 goldens.
#[test]
fn onnx_exports_reproduce_the_goldens() {
    let Some(shared) = shared_dir() else { return };
    let dir = std::env::var_os("ICAM_ONNX_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/onnx-fixtures")
        });
    let all = cases(&shared);
    for (variant, precisions) in [
        ("ts", &["float32", "float64"][..]),
        ("ts_fold", &["float32"][..]),
        ("dynamo", &["float32"][..]),
    ] {
        let p = dir.join(format!("resnet50_seed0_{variant}.onnx"));
        if !p.exists() {
            eprintln!(
                "SKIPPED: {} not found (make it with tools/make_onnx_fixtures.py --resnet50)",
                p.display()
            );
            continue;
        }
        let mut models = HashMap::new();
        for &dt in precisions {
            let prec = if dt == "float64" {
                Precision::F64
            } else {
                Precision::F32
            };
            let m = load(&p, None, &cpu(), prec).unwrap();
            let native: Vec<String> = (1..=4)
                .flat_map(|s| (0..[3, 4, 6, 3][s - 1]).map(move |b| format!("layer{s}.{b}")))
                .map(|l| m.net.resolve_layer(&l).unwrap())
                .collect();
            assert_eq!(m.net.candidate_layers(), native, "{variant}");
            models.insert(
                if dt == "float64" {
                    "float64"
                } else {
                    "float32"
                },
                m,
            );
        }
        let env = Env {
            shared: shared.clone(),
            models,
        };
        for c in &all {
            let dt = c.opts.get("dtype").map(String::as_str).unwrap_or("float32");
            if precisions.contains(&dt) {
                eprintln!("{variant}: {}", c.name);
                run_case(&env, c);
            }
        }
    }
}

#[test]
fn intermediates_of_the_default_f64_run() {
    let Some(shared) = shared_dir() else { return };
    let env = Env::new(shared.clone());
    let dump = shared.join("reference/fixtures/golden/icam_default_f64_dump");
    let case = cases(&shared)
        .into_iter()
        .find(|c| c.name == "icam_default_f64")
        .unwrap();
    let model = &env.models["float64"];
    let img = env.image(&case.opts);
    let s = Subject {
        net: model.net.as_ref(),
        image: &img,
        normalization: Normalization::ImageNet,
    };
    let p = perturbations(&dump.join("noise.npy"), &dump.join("mask.npy"));
    let layers = model.net.candidate_layers();
    let r = explain_icam(
        &s,
        &layers,
        &Preset::Paper.config(),
        Target::Predicted,
        &p,
        &mut |_| {},
    )
    .unwrap();
    let close = |what: &str, ours: &[f64], gold: &[f64], tol: f64| {
        let scale = gold.iter().map(|v| v.abs()).fold(0.0, f64::max).max(1e-300);
        let (mx, _) = stats(ours, gold);
        assert!(
            mx / scale <= tol,
            "{what}: max|d|/max|gold| = {:e}",
            mx / scale
        );
    };
    // Eq. 4 → network: logits of the original and every perturbed image.
    let (_, gl) = npy(&dump.join("logits.npy"));
    close(
        "logits (network on I'_i)",
        &r.intermediates.logits.concat(),
        &gl,
        1e-12,
    );
    // Eq. 3, left: ‖I·∂O/∂I‖_F.
    close(
        "input_grad_map (Eq. 3)",
        &r.intermediates.input_grad_map.data,
        &npy(&dump.join("input_grad_map.npy")).1,
        1e-9,
    );
    for (li, l) in layers.iter().enumerate() {
        // Eq. 3, right: ‖φ_{i,l}‖_F per perturbation.
        let ours: Vec<f64> = r.intermediates.phi_norm[li]
            .iter()
            .flat_map(|m| m.data.clone())
            .collect();
        close(
            &format!("phi_norm {l} (Eq. 3)"),
            &ours,
            &npy(&dump.join(format!("phi_norm_{l}.npy"))).1,
            1e-9,
        );
        // Eqs. 20, 25–27: the layer map and its bias.
        close(
            &format!("cam {l} (Eq. 20)"),
            &r.layer_maps[li].full().data,
            &npy(&dump.join(format!("cam_{l}.npy"))).1,
            1e-9,
        );
        close(
            &format!("bias {l} (Eq. 27)"),
            &r.layer_maps[li].bias_full().data,
            &npy(&dump.join(format!("bias_{l}.npy"))).1,
            1e-9,
        );
    }
    // Eq. 21 before the ReLU.
    close(
        "fused (Eq. 21)",
        &r.intermediates.fused.data,
        &npy(&dump.join("fused.npy")).1,
        1e-12,
    );
}

/// The reference's perturbations of the default run (n = 8, α = 0.4, seed 0).
fn default_perturbations(shared: &Path) -> Perturbations {
    let fx = shared.join("reference/fixtures");
    perturbations(
        &fx.join("noise_n8_seed0.npy"),
        &fx.join("mask_n8_a0.4_seed0.npy"),
    )
}

#[test]
fn one_network_pass_serves_every_bias_variant() {
    // prepare_icam once, finish_icam per bias: the same maps as separate runs (Fig. 2).
    let Some(shared) = shared_dir() else { return };
    let env = Env::new(shared.clone());
    let all = cases(&shared);
    let model = &env.models["float64"];
    let img = env.image(&all[0].opts);
    let s = Subject {
        net: model.net.as_ref(),
        image: &img,
        normalization: Normalization::ImageNet,
    };
    let p = default_perturbations(&shared);
    let layers = model.net.candidate_layers();
    let prep = icam::prepare_icam(
        &s,
        &layers,
        &Preset::Paper.config(),
        Target::Predicted,
        &p,
        &mut |_| {},
    )
    .unwrap();
    for (case, bias) in [
        ("icam_bias_none_f64", Bias::None),
        ("icam_bias_spatial_f64", Bias::Spatial),
        ("icam_default_f64", Bias::Channel),
    ] {
        let cfg = IcamConfig {
            bias,
            ..Preset::Paper.config()
        };
        let r = icam::finish_icam(&prep, &cfg).unwrap();
        let gold = &all.iter().find(|c| c.name == case).unwrap().heat;
        let (mx, _) = stats(&r.heat.data, gold);
        assert!(mx <= 6e-8, "{case}: {mx:e}");
    }
    // A scoring option cannot change after the network pass.
    let other = IcamConfig {
        alpha: 0.1,
        ..Preset::Paper.config()
    };
    assert!(icam::finish_icam(&prep, &other).is_err());

    // Another MDS form and a subset of the layers from the same pass (`rescore_icam`) equal a
    // pass of their own; a layer the pass did not tap, or another alpha, is refused.
    let exp = Preset::Paper.config();
    let exp = IcamConfig {
        mds: MdsForm::Exp,
        threshold: 0.8,
        ..exp
    };
    let sub = &layers[8..];
    let again = rescore_icam(&prep, sub, &exp).unwrap();
    let own = icam::prepare_icam(&s, sub, &exp, Target::Predicted, &p, &mut |_| {}).unwrap();
    assert_eq!(again.scores, own.scores);
    assert_eq!(again.sel, own.sel);
    assert!(!own.sel.degenerate);
    let w: Vec<f64> = own.per.iter().map(|r| r.w).collect();
    assert!(
        w.iter().all(|&x| x > 0.0),
        "exp MDS never zeroes a weight: {w:?}"
    );
    assert_eq!(again.per.iter().map(|r| r.w).collect::<Vec<_>>(), w);
    assert_eq!(
        icam::finish_icam(&again, &exp).unwrap().heat,
        icam::finish_icam(&own, &exp).unwrap().heat
    );
    assert!(rescore_icam(&own, &layers[..2], &exp).is_err());
    assert!(rescore_icam(&prep, sub, &other).is_err());
}

#[test]
fn the_default_golden_in_passes_of_three_images() {
    // I-CAM's batch [x, x, I'_1 … I'_8] in four passes of at most 3 images: the numbers of one
    // pass up to float32 rounding (the gemm blocks a smaller batch differently), the same
    // selection, and the golden heat map.
    let Some(shared) = shared_dir() else { return };
    let env = Env::new(shared.clone());
    let all = cases(&shared);
    let model = &env.models["float32"];
    let img = env.image(&all[0].opts);
    let s = Subject {
        net: model.net.as_ref(),
        image: &img,
        normalization: Normalization::ImageNet,
    };
    let p = default_perturbations(&shared);
    let layers = model.net.candidate_layers();
    let cfg = Preset::Paper.config(); // the golden is the paper's reading
    let run = |chunk| {
        icam::prepare_icam_chunked(&s, &layers, &cfg, Target::Predicted, &p, chunk, &mut |_| {})
            .unwrap()
    };
    let (one, three) = (run(64), run(3));
    let max_rel = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
            .fold(0.0, f64::max)
    };
    assert_eq!(three.logits.len(), one.logits.len());
    for (a, b) in three.logits.iter().zip(&one.logits) {
        assert!(max_rel(a, b) < 1e-4, "logits {:e}", max_rel(a, b));
    }
    for (a, b) in three.dists.iter().zip(&one.dists) {
        assert!(max_rel(a, b) < 1e-4, "distances {:e}", max_rel(a, b));
    }
    assert!(max_rel(&three.scores, &one.scores) < 1e-4);
    assert_eq!(three.sel.selected, one.sel.selected);
    let heat = icam::finish_icam(&three, &cfg).unwrap().heat;
    let (mx, _) = stats(
        &heat.data,
        &icam::finish_icam(&one, &cfg).unwrap().heat.data,
    );
    assert!(mx < 1e-4, "heat against one pass {mx:e}");
    let gold = &all
        .iter()
        .find(|c| c.name == "icam_default_f32")
        .unwrap()
        .heat;
    let (mx, mean) = stats(&heat.data, gold);
    assert!(mx <= 1e-2 && mean <= 1e-3, "{mx:e} {mean:e}");
}

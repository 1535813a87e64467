//! ONNX exports of torchvision families (random weights, reduced widths; made by
//! `tools/make_onnx_fixtures.py` with PyTorch's two exporters) against PyTorch: logits in
//! float32 and float64, and the Grad-CAM map at a module's output tensor, addressed by its
//! module path alias.

use std::path::PathBuf;

use icam_models::{HostTensor, Model, Objective, Precision, WeightFile, cpu, load, trace};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx")
}

struct Expected {
    file: WeightFile,
}

impl Expected {
    fn load(name: &str) -> Self {
        let p = fixtures().join(format!("{name}.safetensors"));
        Self {
            file: WeightFile::load(&p).unwrap(),
        }
    }
    fn t(&self, k: &str) -> &HostTensor {
        &self.file.tensors[k]
    }
    fn meta(&self, k: &str) -> &str {
        &self.file.metadata[k]
    }
}

/// max |a − b| / max |b|.
fn rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

fn model(name: &str, p: Precision) -> Model {
    load(&fixtures().join(format!("{name}.onnx")), None, &cpu(), p)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn input(e: &Expected, p: Precision) -> HostTensor {
    let x = e.t("input");
    match p {
        Precision::F32 => HostTensor::f32(
            x.shape.clone(),
            x.to_f64().iter().map(|&v| v as f32).collect(),
        ),
        Precision::F64 => HostTensor::f64(x.shape.clone(), x.to_f64()),
    }
}

/// Grad-CAM at layer resolution, per sample: relu(Σ_k mean(∂y/∂A_k)·A_k).
fn gradcam(a: &HostTensor, g: &HostTensor) -> Vec<f64> {
    let [b, k, h, w] = a.shape[..] else { panic!() };
    let (av, gv) = (a.to_f64(), g.to_f64());
    let mut out = vec![0.0; b * h * w];
    for s in 0..b {
        for c in 0..k {
            let base = (s * k + c) * h * w;
            let wk: f64 = gv[base..base + h * w].iter().sum::<f64>() / (h * w) as f64;
            for i in 0..h * w {
                out[s * h * w + i] += wk * av[base + i];
            }
        }
    }
    out.iter().map(|&v| v.max(0.0)).collect()
}

fn check(name: &str) {
    let e = Expected::load(name);
    let layer = e.meta("layer").to_string();
    for (p, suffix, tol_logits, tol_cam) in [
        (Precision::F32, "f32", 1e-4, 1e-3),
        (Precision::F64, "f64", 1e-9, 1e-9),
    ] {
        // BatchNorm folded by the exporter (in float32) is not the float64 function of PyTorch.
        let folded = name.ends_with("_fold") || name.ends_with("_dynamo");
        let (tol_logits, tol_cam) = if folded && p == Precision::F64 {
            (1e-5, 1e-4)
        } else {
            (tol_logits, tol_cam)
        };
        let m = model(name, p);
        let x = input(&e, p);
        let classes: Vec<Objective> = e
            .t("class")
            .to_f64()
            .iter()
            .map(|&c| Objective::Logit(c as usize))
            .collect();
        let t = trace(
            m.net.as_ref(),
            &x,
            std::slice::from_ref(&layer),
            &classes,
            false,
        )
        .unwrap_or_else(|err| panic!("{name}: {err}"));
        if p == Precision::F64 {
            assert_eq!(
                t.activations[0].shape,
                e.t("act_f64").shape,
                "{name}: activation shape"
            );
            let ra = rel(&t.activations[0].to_f64(), &e.t("act_f64").to_f64());
            let rg = rel(&t.grads[0].to_f64(), &e.t("grad_f64").to_f64());
            eprintln!("{name} f64: activation at `{layer}` max rel {ra:.2e}, gradient {rg:.2e}");
            assert!(
                ra <= tol_cam && rg <= tol_cam,
                "{name}: activation/gradient differ"
            );
        }
        let r = rel(
            &t.logits.to_f64(),
            &e.t(&format!("logits_{suffix}")).to_f64(),
        );
        eprintln!("{name} {suffix}: logits max rel {r:.2e}");
        assert!(r <= tol_logits, "{name} {suffix}: logits differ by {r:e}");
        let cam = gradcam(&t.activations[0], &t.grads[0]);
        let rc = rel(&cam, &e.t(&format!("cam_{suffix}")).to_f64());
        eprintln!("{name} {suffix}: Grad-CAM at `{layer}` max rel {rc:.2e}");
        assert!(
            rc <= tol_cam,
            "{name} {suffix}: Grad-CAM at {layer} differs by {rc:e}"
        );
    }
}

macro_rules! family {
    ($($t:ident => $n:literal),* $(,)?) => {
        $(#[test]
        fn $t() {
            check($n);
        })*
    };
}

family! {
    resnet_torchscript => "resnet_ts",
    resnet_torchscript_folded => "resnet_ts_fold",
    resnet_dynamo => "resnet_dynamo",
    vgg => "vgg_ts",
    vgg_bn => "vgg_bn_ts",
    densenet => "densenet_ts",
    mobilenet_v2 => "mobilenet_v2_ts",
    mobilenet_v3 => "mobilenet_v3_ts",
    efficientnet => "efficientnet_ts",
    efficientnet_dynamo => "efficientnet_dynamo",
    regnet => "regnet_ts",
    convnext => "convnext_ts",
    convnext_dynamo => "convnext_dynamo",
    squeezenet => "squeezenet_ts",
    inception => "inception_ts",
}

/// The candidate rule gives an exported ResNet exactly the native model's 16 block outputs,
/// reachable by the native names, with both exporters.
#[test]
fn resnet_candidates_are_the_block_outputs() {
    for name in ["resnet_ts", "resnet_ts_fold", "resnet_dynamo"] {
        let m = model(name, Precision::F32);
        let net = m.net.as_ref();
        let native: Vec<String> = [3, 4, 6, 3]
            .iter()
            .enumerate()
            .flat_map(|(s, &n)| (0..n).map(move |b| format!("layer{}.{b}", s + 1)))
            .collect();
        let resolved: Vec<String> = native
            .iter()
            .map(|l| net.resolve_layer(l).unwrap())
            .collect();
        assert_eq!(net.candidate_layers(), resolved, "{name}");
        assert_eq!(
            net.resolve_layer("layer4").unwrap(),
            net.baseline_layer(),
            "{name}"
        );
        eprintln!("{name}: {:?}", net.candidate_layers());
    }
}

/// The block-activation rule (the recommended preset): the activation after every depthwise
/// convolution plus the baseline layer in MobileNet and EfficientNet exports (ReLU6, ReLU or
/// HardSwish, SiLU as `x · Sigmoid(x)`); the block outputs for graphs without depthwise
/// convolutions.
#[test]
fn block_activation_rule_of_every_family() {
    use icam_models::CandidateRule::{BlockActivations, BlockOutputs};
    // (fixture, inverted-residual blocks, the activations' operators)
    for (name, blocks, ops) in [
        ("mobilenet_v2_ts", 17, &["Clip"][..]),
        ("mobilenet_v3_ts", 11, &["Relu", "HardSwish"][..]),
        ("efficientnet_ts", 7, &["Mul"][..]),
        ("efficientnet_dynamo", 7, &["Mul"][..]),
    ] {
        let m = model(name, Precision::F32);
        let net = m.net.as_ref();
        let c = net.candidates(BlockActivations);
        let info = net.layer_info();
        let op = |l: &str| info.iter().find(|i| i.name == l).unwrap().op.clone();
        eprintln!("{name}: {c:?}");
        let (last, acts) = c.split_last().unwrap();
        assert_eq!(*last, net.baseline_layer(), "{name}");
        if blocks > 0 {
            assert_eq!(acts.len(), blocks, "{name}");
        }
        assert!(acts.len() >= 2, "{name}");
        for a in acts {
            assert!(ops.contains(&op(a).as_str()), "{name}: {a} is {}", op(a));
        }
        assert_ne!(c, net.candidates(BlockOutputs), "{name}");
        assert_eq!(net.candidate_layers(), net.candidates(BlockOutputs));
    }
    for name in [
        "resnet_ts",
        "resnet_dynamo",
        "densenet_ts",
        "vgg_ts",
        "convnext_ts",
    ] {
        let m = model(name, Precision::F32);
        let net = m.net.as_ref();
        assert_eq!(
            net.candidates(BlockActivations),
            net.candidate_layers(),
            "{name}"
        );
    }
}

#[test]
fn default_layers_of_every_family() {
    for e in std::fs::read_dir(fixtures()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "onnx") {
            continue;
        }
        let m = load(&p, None, &cpu(), Precision::F32).unwrap();
        let net = m.net.as_ref();
        let c = net.candidate_layers();
        eprintln!(
            "{}: {} layers, {} candidates {:?}, baseline {}",
            p.file_name().unwrap().to_string_lossy(),
            net.layer_names().len(),
            c.len(),
            c,
            net.baseline_layer()
        );
        assert!(c.len() >= 2, "{}", p.display());
    }
}

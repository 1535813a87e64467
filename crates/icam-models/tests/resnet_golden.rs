//! ResNet-50 against PyTorch: logits, and the input and block gradients of the target-class
//! logit and softmax probability (fixture made by tools/make_model_fixtures.py).

mod common;

use common::{fixture, l2_rel, max_rel, shared_dir};
use icam_models::{
    HostTensor, Normalization, Objective, PixelImage, Precision, WeightFile, cpu, load, trace,
};

fn check(precision: Precision) {
    let Some(shared) = shared_dir() else { return };
    let fx = shared.join("reference/fixtures");
    let model = load(
        &fx.join("resnet50_seed0.safetensors"),
        Some("resnet50"),
        &cpu(),
        precision,
    )
    .expect("load resnet50");
    let img = icam_models::preprocess::load_rgb(&fx.join("chelsea224.png")).unwrap();
    let px = PixelImage::from_rgb(&img);
    let input = Normalization::ImageNet.to_model_input(&px, precision);
    let gold = WeightFile::load(fixture("resnet50_chelsea_grads.safetensors")).unwrap();
    let stride_in: usize = gold.metadata["stride_input"].parse().unwrap();
    let stride_block: usize = gold.metadata["stride_block"].parse().unwrap();
    let class: usize = gold.metadata["target_class"].parse().unwrap();
    let suf = match precision {
        Precision::F32 => "f32",
        Precision::F64 => "f64",
    };
    let (tol_grad, tol_logit) = match precision {
        Precision::F32 => (1e-3, 1e-5),
        Precision::F64 => (1e-9, 1e-12),
    };
    let g = |name: &str| gold.tensors[name].to_f64();
    let sub = |t: &HostTensor, s: usize| t.to_f64().into_iter().step_by(s).collect::<Vec<_>>();
    let layers = model.net.candidate_layers();
    assert_eq!(layers.len(), 16);
    for (obj_name, obj) in [
        ("logit", Objective::Logit(class)),
        ("prob", Objective::Prob(class)),
    ] {
        let tr = trace(model.net.as_ref(), &input, &layers, &[obj], true).unwrap();
        let logits = tr.logits.to_f64();
        let d = max_rel(&logits, &g(&format!("logits_{suf}")));
        assert!(d <= tol_logit, "{suf} logits: max rel diff {d:e}");
        let argmax = (0..logits.len())
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .unwrap();
        assert_eq!(argmax, class);
        let ig = sub(tr.input_grad.as_ref().unwrap(), stride_in);
        let d = l2_rel(&ig, &g(&format!("input_grad_{obj_name}_{suf}")));
        assert!(d <= tol_grad, "{suf} {obj_name} input grad: L2 rel {d:e}");
        let mut worst = 0.0f64;
        for (i, l) in layers.iter().enumerate() {
            let d = l2_rel(
                &sub(&tr.grads[i], stride_block),
                &g(&format!("{l}.grad_{obj_name}_{suf}")),
            );
            assert!(d <= tol_grad, "{suf} {obj_name} {l} grad: L2 rel {d:e}");
            let da = l2_rel(
                &sub(&tr.activations[i], stride_block),
                &g(&format!("{l}.act_{suf}")),
            );
            assert!(da <= tol_grad, "{suf} {l} activation: L2 rel {da:e}");
            worst = worst.max(d);
        }
        eprintln!("{suf} {obj_name}: worst block-gradient L2 rel {worst:e}");
    }
}

#[test]
fn resnet50_f32_matches_pytorch() {
    check(Precision::F32);
}

#[test]
fn resnet50_f64_matches_pytorch() {
    check(Precision::F64);
}

#[test]
fn batched_trace_equals_single_image_traces() {
    // Samples of a batch are independent (eval-mode BN, A24): the batched gradients of
    // Σ_b objective_b equal per-image gradients, and an `Objective::None` sample gets zeros.
    let Some(shared) = shared_dir() else { return };
    let fx = shared.join("reference/fixtures");
    let model = load(
        &fx.join("resnet50_seed0.safetensors"),
        None,
        &cpu(),
        Precision::F64,
    )
    .unwrap();
    let img = icam_models::preprocess::load_rgb(&fx.join("chelsea224.png")).unwrap();
    let one = Normalization::ImageNet.to_model_input(&PixelImage::from_rgb(&img), Precision::F64);
    let v = one.to_f64();
    let mut batch = v.clone();
    batch.extend(v.iter().map(|x| x * 0.5));
    batch.extend(v.iter().copied());
    let batch = HostTensor::f64(vec![3, 3, 224, 224], batch);
    let layers = vec!["layer4".to_string(), "layer3.5".to_string()];
    let objs = [Objective::Prob(1), Objective::Logit(7), Objective::None];
    let tr = trace(model.net.as_ref(), &batch, &layers, &objs, true).unwrap();
    let half = HostTensor::f64(vec![1, 3, 224, 224], v.iter().map(|x| x * 0.5).collect());
    let t0 = trace(model.net.as_ref(), &one, &layers, &objs[..1], true).unwrap();
    let t1 = trace(model.net.as_ref(), &half, &layers, &objs[1..2], true).unwrap();
    for l in 0..2 {
        assert!(l2_rel(&tr.grads[l].sample_f64(0), &t0.grads[l].to_f64()) < 1e-12);
        assert!(l2_rel(&tr.grads[l].sample_f64(1), &t1.grads[l].to_f64()) < 1e-12);
        assert!(tr.grads[l].sample_f64(2).iter().all(|&x| x == 0.0));
    }
    let ig = tr.input_grad.as_ref().unwrap();
    assert!(l2_rel(&ig.sample_f64(0), &t0.input_grad.unwrap().to_f64()) < 1e-12);
    assert!(l2_rel(&ig.sample_f64(1), &t1.input_grad.unwrap().to_f64()) < 1e-12);
}

fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = s
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[test]
fn forward_only_passes_do_not_accumulate_memory() {
    // Weights live on the plain device and only `trace` inputs on the autodiff one, so a
    // loop of forward-only passes builds no autodiff graph that would never be freed.
    let Some(shared) = shared_dir() else { return };
    let model = load(
        &shared.join("reference/fixtures/resnet50_seed0.safetensors"),
        None,
        &cpu(),
        Precision::F32,
    )
    .unwrap();
    let x = HostTensor::f32(
        vec![1, 3, 64, 64],
        (0..3 * 64 * 64).map(|i| (i % 97) as f32 / 97.0).collect(),
    );
    for _ in 0..20 {
        icam_models::logits(model.net.as_ref(), &x).unwrap();
    }
    let Some(before) = rss_bytes() else { return };
    for _ in 0..300 {
        icam_models::logits(model.net.as_ref(), &x).unwrap();
    }
    let grown = rss_bytes().unwrap().saturating_sub(before);
    // With the weights on the autodiff device every pass left ~0.05 MB of graph behind
    // (measured: +10 MB per 200 passes; +2.2 GB over a long `icam cases` run).
    eprintln!("RSS grew by {} MB over 300 forward passes", grown >> 20);
    assert!(
        grown < 15 << 20,
        "RSS grew by {} MB over 300 forward passes",
        grown >> 20
    );
}

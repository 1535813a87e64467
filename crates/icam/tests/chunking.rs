//! I-CAM's network passes in chunks ([`prepare_icam_chunked`]) give what one pass over the
//! whole batch gives, on a small seeded network (no files needed).

use burn::tensor::activation::relu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use icam::methods::icam::Bias;
use icam::{IcamConfig, Perturbations, Subject, Target, finish_icam, prepare_icam_chunked};
use icam_models::{Network, Normalization, PixelImage, Precision, Tapper, cpu};
use rand::{Rng, SeedableRng};

/// conv 3→4 (3×3) → ReLU → tap `c1` → conv 4→6 (3×3, stride 2) → ReLU → tap `c2` → GAP →
/// linear 6→5, seeded weights.
struct Tiny {
    w1: Tensor<4>,
    w2: Tensor<4>,
    fc: Tensor<2>,
    device: Device,
}

impl Tiny {
    fn new(seed: u64) -> Self {
        let device = cpu();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut t = |shape: Vec<usize>, scale: f32| -> Vec<f32> {
            let n = shape.iter().product();
            (0..n).map(|_| rng.random_range(-scale..scale)).collect()
        };
        let w1 = Tensor::from_data(
            TensorData::new(t(vec![4, 3, 3, 3], 0.5), [4, 3, 3, 3]),
            &device,
        );
        let w2 = Tensor::from_data(
            TensorData::new(t(vec![6, 4, 3, 3], 0.5), [6, 4, 3, 3]),
            &device,
        );
        let fc = Tensor::from_data(TensorData::new(t(vec![6, 5], 1.0), [6, 5]), &device);
        Self { w1, w2, fc, device }
    }
}

impl Network for Tiny {
    fn arch(&self) -> &str {
        "tiny"
    }
    fn num_classes(&self) -> usize {
        5
    }
    fn layer_names(&self) -> Vec<String> {
        vec!["c1".into(), "c2".into()]
    }
    fn candidate_layers(&self) -> Vec<String> {
        self.layer_names()
    }
    fn baseline_layer(&self) -> String {
        "c2".into()
    }
    fn device(&self) -> &Device {
        &self.device
    }
    fn precision(&self) -> Precision {
        Precision::F32
    }
    fn forward(&self, x: Tensor<4>, tapper: &mut Tapper) -> Tensor<2> {
        let same = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let down = ConvOptions::new([2, 2], [1, 1], [1, 1], 1);
        let h = tapper.tap("c1", relu(conv2d(x, self.w1.clone(), None, same)));
        let h = tapper.tap("c2", relu(conv2d(h, self.w2.clone(), None, down)));
        let [b, c, hh, ww] = h.dims();
        let pooled = h.reshape([b, c, hh * ww]).mean_dim(2).reshape([b, c]);
        pooled.matmul(self.fc.clone())
    }
}

fn image() -> PixelImage {
    let img = image::RgbImage::from_fn(40, 32, |x, y| {
        image::Rgb([(x * 6) as u8, (y * 7) as u8, ((x * y) % 251) as u8])
    });
    PixelImage::from_rgb(&img)
}

#[test]
fn chunked_passes_equal_one_pass() {
    let net = Tiny::new(7);
    let img = image();
    let s = Subject {
        net: &net,
        image: &img,
        normalization: Normalization::ImageNet,
    };
    let cfg = IcamConfig {
        n: 11,
        ..IcamConfig::default()
    };
    let pert = Perturbations::generate(cfg.n, img.height, img.width, cfg.alpha, cfg.seed);
    let layers = net.candidate_layers();
    let one = prepare_icam_chunked(
        &s,
        &layers,
        &cfg,
        Target::Predicted,
        &pert,
        100,
        &mut |_| {},
    )
    .unwrap();
    // 13 images in passes of 2, 3 and 5: chunk borders inside the perturbations, and a first
    // pass with no perturbation at all.
    for chunk in [2, 3, 5] {
        let c = prepare_icam_chunked(
            &s,
            &layers,
            &cfg,
            Target::Predicted,
            &pert,
            chunk,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(c.class, one.class);
        assert_eq!(c.logits, one.logits, "chunk {chunk}: logits");
        assert_eq!(c.dists, one.dists, "chunk {chunk}: layer distances");
        assert_eq!(c.scores, one.scores, "chunk {chunk}: layer scores");
        assert_eq!(
            c.sel.weights, one.sel.weights,
            "chunk {chunk}: layer weights"
        );
        let w = |p: &icam::IcamPrepared| p.per.iter().map(|r| r.w).collect::<Vec<_>>();
        assert_eq!(w(&c), w(&one), "chunk {chunk}: perturbation weights");
        assert_eq!(c.ig.data, one.ig.data, "chunk {chunk}: input-gradient map");
        for (a, b) in c.originals.iter().zip(&one.originals) {
            assert_eq!((&a.a, &a.g), (&b.a, &b.g), "chunk {chunk}: original layers");
        }
        let (hc, h1) = (
            finish_icam(&c, &cfg).unwrap(),
            finish_icam(&one, &cfg).unwrap(),
        );
        assert_eq!(hc.heat.data, h1.heat.data, "chunk {chunk}: heatmap");
    }
    // The runs are not trivially equal: 11 perturbations, two layers, a non-constant map.
    assert_eq!(one.logits.len(), 12);
    assert_eq!(one.dists.iter().map(Vec::len).sum::<usize>(), 22);
    assert!(one.dists[0].iter().any(|&d| d != one.dists[0][0]));
    // With the default channel bias this network's fused map is never positive; without a
    // bias it is, and chunking leaves it unchanged too.
    let plain = IcamConfig {
        bias: Bias::None,
        ..cfg.clone()
    };
    let heat = finish_icam(&one, &plain).unwrap().heat;
    assert!(heat.max() > heat.min());
    let c =
        prepare_icam_chunked(&s, &layers, &cfg, Target::Predicted, &pert, 4, &mut |_| {}).unwrap();
    assert_eq!(finish_icam(&c, &plain).unwrap().heat.data, heat.data);
}

#[test]
fn n_above_the_old_cap_of_64_runs() {
    let net = Tiny::new(3);
    let img = image();
    let s = Subject {
        net: &net,
        image: &img,
        normalization: Normalization::ImageNet,
    };
    let cfg = IcamConfig {
        n: 100,
        ..IcamConfig::default()
    };
    let pert = Perturbations::generate(cfg.n, img.height, img.width, cfg.alpha, cfg.seed);
    let p = prepare_icam_chunked(
        &s,
        &net.candidate_layers(),
        &cfg,
        Target::Predicted,
        &pert,
        16,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!((p.per.len(), p.logits.len()), (100, 101));
}

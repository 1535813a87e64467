//! Dataset evaluation, one image at a time: every metric of [`crate::metrics`] on one map,
//! and mean ± standard error over a dataset. Files, flags and progress belong to the caller.

use serde::Serialize;

use crate::error::Result;
use crate::maps::Map;
use crate::metrics::{
    Box2, CurveOptions, RoadOptions, RoadOrder, Scorer, deletion_auc, energy_in_boxes,
    explanation_confidence, insertion_auc, localisation_ious, mask_iou, pointing_game, road,
    road_combined,
};

/// Which metrics to compute, and how.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Localisation thresholds (fractions of the map's maximum), Table 1 of the paper.
    pub thresholds: Vec<f64>,
    /// Deletion AUC (RISE), if set.
    pub deletion: Option<CurveOptions>,
    /// Insertion AUC (RISE), if set.
    pub insertion: Option<CurveOptions>,
    /// Average Drop and Increase in Confidence (Grad-CAM++).
    pub confidence: bool,
    /// ROAD (MoRF and LeRF at these removal percentages), if set.
    pub road: Option<(Vec<f64>, RoadOptions)>,
}

/// The metrics of one map. `None`: not computed (no box, or not asked for).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MapMetrics {
    /// Eq. 32: fraction of the map's energy inside the ground-truth boxes.
    pub energy: Option<f64>,
    /// The map's maximum lies inside a box.
    pub pointing: Option<bool>,
    /// Localisation IoU per threshold of [`EvalOptions::thresholds`]: the largest connected
    /// component's box against the best ground-truth box (the CAM protocol).
    pub iou: Vec<Option<f64>>,
    /// The paper's §3.2 read literally: IoU of the thresholded map itself (a mask) with the
    /// union of the boxes, per threshold.
    pub mask_iou: Vec<Option<f64>>,
    pub deletion: Option<f64>,
    pub insertion: Option<f64>,
    pub avg_drop: Option<f64>,
    pub increase: Option<bool>,
    /// pytorch-grad-cam's ROADCombined (higher is better).
    pub road: Option<f64>,
}

/// Every metric of `opts` for `map` (model-input resolution, in [0, 1]) of `image` (pixel
/// space `(3, h, w)`), `boxes` in model-input coordinates, explaining `class`.
pub fn map_metrics(
    map: &Map,
    image: &[f32],
    boxes: &[Box2],
    class: usize,
    scorer: &mut dyn Scorer,
    opts: &EvalOptions,
) -> Result<MapMetrics> {
    let mut m = MapMetrics::default();
    if boxes.is_empty() {
        m.iou = vec![None; opts.thresholds.len()];
        m.mask_iou = vec![None; opts.thresholds.len()];
    } else {
        m.energy = Some(energy_in_boxes(map, boxes));
        m.pointing = Some(pointing_game(map, boxes));
        m.iou = localisation_ious(map, boxes, &opts.thresholds)
            .into_iter()
            .map(Some)
            .collect();
        m.mask_iou = opts
            .thresholds
            .iter()
            .map(|&t| Some(mask_iou(map, boxes, t)))
            .collect();
    }
    if let Some(o) = &opts.deletion {
        m.deletion = Some(deletion_auc(scorer, image, map, class, o)?);
    }
    if let Some(o) = &opts.insertion {
        m.insertion = Some(insertion_auc(scorer, image, map, class, o)?);
    }
    if opts.confidence {
        let c = explanation_confidence(scorer, image, map, class)?;
        m.avg_drop = Some(c.drop);
        m.increase = Some(c.increase);
    }
    if let Some((percents, o)) = &opts.road {
        let morf = road(
            scorer,
            image,
            map,
            class,
            RoadOrder::MostRelevantFirst,
            percents,
            o,
        )?;
        let lerf = road(
            scorer,
            image,
            map,
            class,
            RoadOrder::LeastRelevantFirst,
            percents,
            o,
        )?;
        m.road = Some(road_combined(&morf, &lerf));
    }
    Ok(m)
}

/// Mean, standard error of the mean (sample standard deviation / √n) and count.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    pub se: f64,
    pub n: usize,
}

impl Stat {
    /// Over `values` (NaN for an empty set; se 0 for one value).
    pub fn of(values: &[f64]) -> Self {
        let n = values.len();
        if n == 0 {
            return Self {
                mean: f64::NAN,
                se: f64::NAN,
                n,
            };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let se = if n > 1 {
            let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
            (var / n as f64).sqrt()
        } else {
            0.0
        };
        Self { mean, se, n }
    }

    /// `0.512 ± 0.031 (n=10)`.
    pub fn display(&self, digits: usize) -> String {
        if self.n == 0 {
            return "–".into();
        }
        format!(
            "{:.*} ± {:.*} (n={})",
            digits, self.mean, digits, self.se, self.n
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_standard_error_by_hand() {
        // 1, 2, 3, 4: mean 2.5, sample variance 5/3, se = sqrt(5/3 / 4) = 0.6455.
        let s = Stat::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s.mean, 2.5);
        assert!((s.se - (5.0f64 / 12.0).sqrt()).abs() < 1e-15);
        assert_eq!(s.n, 4);
        assert_eq!(Stat::of(&[7.0]).se, 0.0);
        assert!(Stat::of(&[]).mean.is_nan());
        assert_eq!(Stat::of(&[1.0, 3.0]).display(2), "2.00 ± 1.00 (n=2)");
    }

    struct Centre;
    impl Scorer for Centre {
        // Probability = mean red value of the top-left pixel: enough to exercise the plumbing.
        fn probabilities(&mut self, images: &[Vec<f32>], _class: usize) -> Result<Vec<f64>> {
            Ok(images.iter().map(|im| im[0] as f64).collect())
        }
    }

    #[test]
    fn map_metrics_by_hand() {
        // 2×2 map with its energy 3 of 4 in the left column box.
        let map = Map::new(2, 2, vec![1.0, 0.0, 0.5, 0.0]);
        let image = vec![0.8f32; 12];
        let boxes = [Box2::new(0.0, 0.0, 1.0, 2.0)];
        let opts = EvalOptions {
            thresholds: vec![0.4],
            deletion: None,
            insertion: None,
            confidence: true,
            road: None,
        };
        let m = map_metrics(&map, &image, &boxes, 0, &mut Centre, &opts).unwrap();
        assert_eq!(m.energy, Some(1.0));
        assert_eq!(m.pointing, Some(true));
        // Threshold 0.4 (v > 0.4) keeps the left column: box == ground truth.
        assert_eq!(m.iou, vec![Some(1.0)]);
        // E = L∘I keeps pixel 0 (map 1): O = Y, no drop, no increase.
        assert_eq!((m.avg_drop, m.increase), (Some(0.0), Some(false)));
        let none = map_metrics(&map, &image, &[], 0, &mut Centre, &opts).unwrap();
        assert_eq!((none.energy, none.iou.clone()), (None, vec![None]));
    }
}

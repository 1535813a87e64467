//! Evaluation metrics of saliency maps (issue 5): the paper's saliency score (Eq. 32), the
//! pointing game, CAM-style localisation IoU (the paper's §3.2 / Table 1), and the
//! faithfulness metrics that query the model: deletion/insertion (RISE), Average Drop and
//! Increase in Confidence (Grad-CAM++) and ROAD.
//!
//! Conventions shared by every function:
//!
//! - A map is a [`Map`] (row-major float64, `h × w`) in model-input pixel coordinates, e.g. an
//!   icam heatmap (min-max normalised to [0, 1]).
//! - A box is a [`Box2`] in continuous pixel coordinates of the same map (pixel `(x, y)`
//!   covers `[x, x+1) × [y, y+1)`). Pixel `(x, y)` is *inside* a box when its centre
//!   `(x + 0.5, y + 0.5)` lies in the half-open box `[x0, x1) × [y0, y1)`, so that boxes
//!   meeting at an edge never share a pixel; a box with integer corners covers exactly the
//!   pixels `x0..x1 × y0..y1`.
//! - An image is a pixel-space float32 `(3, h, w)` vector in [0, 1], the layout of
//!   `icam_models::PixelImage::data`. The model is reached only through the [`Scorer`] trait
//!   (softmax probability of one class per image), so the metrics know nothing about networks;
//!   [`NetworkScorer`] adapts an `icam_models::Network`.
//!
//! Every metric is per image; dataset means are taken by the caller.
//!
//! [`Map`]: crate::maps::Map

mod boxes;
mod confidence;
mod curves;
mod road;
mod scorer;
#[cfg(test)]
mod test_support;

pub use boxes::{
    Box2, box_mask, energy_in_boxes, iou, localisation_box, localisation_iou, localisation_ious,
    mask_iou, pointing_game,
};
pub use confidence::{
    ConfidenceChange, average_drop, explanation_confidence, increase_in_confidence,
};
pub use curves::{
    Baseline, Curve, CurveOptions, deletion_auc, deletion_curve, gaussian_blur, insertion_auc,
    insertion_curve, trapezoid,
};
pub use road::{RoadOptions, RoadOrder, RoadResult, noisy_linear_impute, road, road_combined};
pub use scorer::{NetworkScorer, Scorer};

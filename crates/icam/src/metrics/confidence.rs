//! Average Drop and Increase in Confidence (Grad-CAM++).

use serde::Serialize;

use super::scorer::{Scorer, check_inputs, score};
use crate::error::{IcamError, Result};
use crate::maps::Map;

/// The class probability on the original image and on the explanation image.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ConfidenceChange {
    /// `Y`: probability on the original image.
    pub original: f64,
    /// `O`: probability on the explanation image `E = L ∘ I`.
    pub explained: f64,
    /// [`average_drop`]`(Y, O)`.
    pub drop: f64,
    /// [`increase_in_confidence`]`(Y, O)`.
    pub increase: bool,
}

/// One image's term of Average Drop (Chattopadhay et al., "Grad-CAM++", WACV 2018, §5.1):
/// `max(0, Y − O)/Y`, a fraction (the paper's "Average Drop %" is `100/N · Σ_i` of it over
/// the dataset, taken by the caller). `Y ≤ 0` (a probability that underflowed) gives `0`.
pub fn average_drop(original: f64, explained: f64) -> f64 {
    if original > 0.0 {
        (original - explained).max(0.0) / original
    } else {
        0.0
    }
}

/// One image's term of "% Increase in Confidence" (Grad-CAM++ §5.1): `[O > Y]`, strictly
/// (the paper's figure is `100/N · Σ_i` of it).
pub fn increase_in_confidence(original: f64, explained: f64) -> bool {
    explained > original
}

/// `Y` and `O` for one image in one scorer call of two images: the original, and the
/// explanation image `E = L ∘ I` (Grad-CAM++ §5.1), every channel of pixel `i` multiplied by
/// `map[i]` in pixel space. The map must already be at the image size and in [0, 1] (an icam
/// heatmap; otherwise `Map::minmax` it first) — values outside are an error. (pytorch-grad-cam's
/// `DropInConfidence` multiplies the *normalised* model input instead, which is not the
/// paper's `L ∘ I` when the normalisation has an offset.)
pub fn explanation_confidence(
    scorer: &mut dyn Scorer,
    image: &[f32],
    map: &Map,
    class: usize,
) -> Result<ConfidenceChange> {
    check_inputs(image, map)?;
    if map.data.iter().any(|v| !(0.0..=1.0).contains(v)) {
        return Err(IcamError::Config(
            "Average Drop needs a map in [0, 1] (min-max normalise it first)".into(),
        ));
    }
    let n = map.h * map.w;
    let mut explained = image.to_vec();
    for c in 0..3 {
        for (v, &m) in explained[c * n..(c + 1) * n].iter_mut().zip(&map.data) {
            *v = (*v as f64 * m) as f32;
        }
    }
    let p = score(scorer, &[image.to_vec(), explained], class)?;
    let (y, o) = (p[0], p[1]);
    Ok(ConfidenceChange {
        original: y,
        explained: o,
        drop: average_drop(y, o),
        increase: increase_in_confidence(y, o),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::test_support::{FnScorer, close, in_r, red_in_r};

    #[test]
    fn average_drop_and_increase_by_hand() {
        // max(0, 0.8 − 0.6)/0.8 = 0.25; a rise drops nothing; Y = 0 → 0.
        assert!(close(average_drop(0.8, 0.6), 0.25, 1e-15));
        assert_eq!(average_drop(0.5, 0.7), 0.0);
        assert_eq!(average_drop(0.0, 0.3), 0.0);
        assert!(increase_in_confidence(0.5, 0.7));
        assert!(!increase_in_confidence(0.5, 0.5));

        // All-ones image, p = mean red over R, map ½ on R and 1 elsewhere: Y = 1, O = ½ →
        // drop ½, no increase. One scorer call of 2 images.
        let image = vec![1.0f32; 48];
        let map = Map::new(
            4,
            4,
            (0..16).map(|p| if in_r(p) { 0.5 } else { 1.0 }).collect(),
        );
        let mut s = FnScorer::new(red_in_r);
        let c = explanation_confidence(&mut s, &image, &map, 0).unwrap();
        assert_eq!(
            (c.original, c.explained, c.drop, c.increase),
            (1.0, 0.5, 0.5, false)
        );
        assert_eq!(s.calls, vec![2]);

        // Red 0.5 everywhere, p = 1 − mean red outside R, map 1 on R and ¼ elsewhere:
        // Y = 1 − ½ = ½, O = 1 − ⅛ = ⅞ → drop 0, increase.
        let image = vec![0.5f32; 48];
        let map = Map::new(
            4,
            4,
            (0..16).map(|p| if in_r(p) { 1.0 } else { 0.25 }).collect(),
        );
        let mut s = FnScorer::new(|im: &[f32]| {
            1.0 - (0..16)
                .filter(|&p| !in_r(p))
                .map(|p| im[p] as f64)
                .sum::<f64>()
                / 8.0
        });
        let c = explanation_confidence(&mut s, &image, &map, 0).unwrap();
        assert_eq!(
            (c.original, c.explained, c.drop, c.increase),
            (0.5, 0.875, 0.0, true)
        );

        // A map outside [0, 1] is refused.
        let raw = Map::filled(4, 4, 2.0);
        assert!(explanation_confidence(&mut s, &image, &raw, 0).is_err());
    }
}

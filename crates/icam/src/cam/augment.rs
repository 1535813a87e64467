//! `--aug-smooth`: pytorch-grad-cam's test-time augmentation (ttach `HorizontalFlip` ×
//! `Multiply([0.9, 1, 1.1])`): the map of every augmented model input, brought back
//! (flipped back) and averaged, without a final min-max (as the package).

use crate::maps::Map;

/// One augmentation: mirror left-right, then multiply the model input by `factor`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augmentation {
    pub flip: bool,
    pub factor: f64,
}

/// The identity first (its logits resolve the target classes), then the other five.
pub fn augmentations(smooth: bool) -> Vec<Augmentation> {
    let id = Augmentation {
        flip: false,
        factor: 1.0,
    };
    if !smooth {
        return vec![id];
    }
    let mut out = vec![id];
    for flip in [false, true] {
        for factor in [0.9, 1.0, 1.1] {
            let a = Augmentation { flip, factor };
            if a != id {
                out.push(a);
            }
        }
    }
    out
}

impl Augmentation {
    /// The augmented model input (`3 × h × w`, channel-major).
    pub fn apply(&self, x: &[f64], h: usize, w: usize) -> Vec<f64> {
        let mut out = x.to_vec();
        if self.flip {
            for row in out.chunks_mut(w) {
                row.reverse();
            }
        }
        debug_assert_eq!(out.len(), 3 * h * w);
        if self.factor != 1.0 {
            out.iter_mut().for_each(|v| *v *= self.factor);
        }
        out
    }

    /// A map of the augmented input brought back to the original's frame.
    pub fn undo(&self, m: Map) -> Map {
        if self.flip { m.flip_horizontal() } else { m }
    }
}

/// The mean of the maps.
pub fn mean(maps: &[Map]) -> Map {
    let mut out = Map::zeros(maps[0].h, maps[0].w);
    for m in maps {
        out.add_scaled(1.0 / maps.len() as f64, m);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_augmentations_identity_first() {
        let a = augmentations(true);
        assert_eq!(a.len(), 6);
        assert_eq!(a[0], augmentations(false)[0]);
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let f = Augmentation {
            flip: true,
            factor: 2.0,
        };
        assert_eq!(f.apply(&x, 1, 2), vec![4.0, 2.0, 8.0, 6.0, 12.0, 10.0]);
        let m = Map::new(1, 2, vec![0.0, 1.0]);
        assert_eq!(f.undo(m).data, vec![1.0, 0.0]);
    }
}

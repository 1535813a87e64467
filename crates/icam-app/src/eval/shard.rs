//! Which shard of a dataset a run evaluates: `--shard i/N` as given, or `--shard auto` read
//! from the environment that a scheduler sets in every task of an array job, so that one
//! command line serves every task. Image `k` of the dataset belongs to shard `k mod N`.
//!
//! | scheduler | index | count |
//! |---|---|---|
//! | Slurm job array | `(SLURM_ARRAY_TASK_ID − SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP` | `SLURM_ARRAY_TASK_COUNT` |
//! | Slurm, with `--shards N` | `SLURM_ARRAY_TASK_ID` (the array numbered `0-(N−1)`, so that a resubmitted subset such as `--array=7` keeps its index) | `N` |
//! | Kubernetes indexed Job | `JOB_COMPLETION_INDEX` | `--shards N` (the Job's `completions`; not in the environment) |
//! | AWS Batch array job | `AWS_BATCH_JOB_ARRAY_INDEX` | `--shards N` (the array size; not in the environment) |
//! | Google Cloud Batch | `BATCH_TASK_INDEX` | `BATCH_TASK_COUNT` (or `--shards N`, which must agree) |

use anyhow::{Context, Result};

use crate::error::{InvalidOption, invalid};

/// A shard and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardChoice {
    pub index: usize,
    pub count: usize,
    /// What it was read from: `--shard 1/4`, or the variables (`SLURM_ARRAY_TASK_ID=5,
    /// SLURM_ARRAY_TASK_MIN=4, SLURM_ARRAY_TASK_COUNT=4`).
    pub source: String,
}

/// Parse a shard `i/N`.
pub fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let (i, n) = s
        .split_once('/')
        .with_context(|| InvalidOption(format!("--shard `{s}`: expected i/N")))?;
    let num = |x: &str| x.trim().parse::<usize>().map_err(|e| invalid!("{e}"));
    let (i, n) = (num(i)?, num(n)?);
    if n == 0 || i >= n {
        return Err(invalid!("--shard {s}: need 0 <= i < N"));
    }
    Ok((i, n))
}

/// The variables `--shard auto` reads, by scheduler (for messages and documentation).
pub const SCHEDULER_VARIABLES: [&str; 4] = [
    "SLURM_ARRAY_TASK_ID",
    "JOB_COMPLETION_INDEX",
    "AWS_BATCH_JOB_ARRAY_INDEX",
    "BATCH_TASK_INDEX",
];

/// The shard of `--shard SPEC` (`i/N` or `auto`) and `--shards N` (the count, with `auto`);
/// `env` looks an environment variable up (`|k| std::env::var(k).ok()`). `None`: no shard.
pub fn resolve_shard(
    spec: Option<&str>,
    shards: Option<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<ShardChoice>> {
    match spec.map(str::trim) {
        None if shards.is_some() => Err(invalid!("--shards N goes with --shard auto")),
        None => Ok(None),
        Some("auto") => from_env(shards, env).map(Some),
        Some(s) => {
            if shards.is_some() {
                return Err(invalid!(
                    "--shards N goes with --shard auto; --shard {s} gives the count itself"
                ));
            }
            let (index, count) = parse_shard(s)?;
            Ok(Some(ShardChoice {
                index,
                count,
                source: format!("--shard {s}"),
            }))
        }
    }
}

/// `--shard auto`: the shard from the scheduler's variables (see the module's table).
fn from_env(shards: Option<usize>, env: &dyn Fn(&str) -> Option<String>) -> Result<ShardChoice> {
    if shards == Some(0) {
        return Err(invalid!("--shards must be at least 1"));
    }
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let num = |k: &str, v: &str| {
        v.trim()
            .parse::<usize>()
            .map_err(|_| invalid!("--shard auto: {k}={v} is not a non-negative integer"))
    };
    let set: Vec<&str> = SCHEDULER_VARIABLES
        .into_iter()
        .filter(|k| get(k).is_some())
        .collect();
    let key = match set.as_slice() {
        [] => {
            return Err(invalid!(
                "--shard auto: none of {} is set (not in a scheduler's array task?); pass --shard i/N",
                SCHEDULER_VARIABLES.join(", ")
            ));
        }
        [k] => *k,
        many => {
            return Err(invalid!(
                "--shard auto: {} are all set, so the scheduler is ambiguous; pass --shard i/N",
                many.join(" and ")
            ));
        }
    };
    let raw = get(key).expect("set");
    let id = num(key, &raw)?;
    let mut read = vec![format!("{key}={}", raw.trim())];
    // The count from the environment, if the scheduler gives it, and the index.
    let (index, count) = match key {
        "SLURM_ARRAY_TASK_ID" if shards.is_none() => {
            let mut var = |k: &str, default: Option<usize>| -> Result<usize> {
                match get(k) {
                    Some(v) => {
                        read.push(format!("{k}={}", v.trim()));
                        num(k, &v)
                    }
                    None => default.with_context(|| {
                        InvalidOption(format!(
                            "--shard auto: SLURM_ARRAY_TASK_ID is set but not {k}; add --shards N"
                        ))
                    }),
                }
            };
            let min = var("SLURM_ARRAY_TASK_MIN", Some(0))?;
            let step = var("SLURM_ARRAY_TASK_STEP", Some(1))?.max(1);
            let count = var("SLURM_ARRAY_TASK_COUNT", None)?;
            let offset = id.checked_sub(min).filter(|o| o % step == 0);
            match offset.map(|o| o / step).filter(|&i| i < count) {
                Some(i) => (i, count),
                None => {
                    return Err(invalid!(
                        "--shard auto: {} is not a range MIN-MAX[:STEP]; number the array 0-(N-1) and add --shards N",
                        read.join(", ")
                    ));
                }
            }
        }
        "BATCH_TASK_INDEX" => {
            let count = match (get("BATCH_TASK_COUNT"), shards) {
                (Some(v), s) => {
                    read.push(format!("BATCH_TASK_COUNT={}", v.trim()));
                    let c = num("BATCH_TASK_COUNT", &v)?;
                    if let Some(s) = s
                        && s != c
                    {
                        return Err(invalid!(
                            "--shard auto: --shards {s} disagrees with BATCH_TASK_COUNT={c}"
                        ));
                    }
                    c
                }
                (None, Some(s)) => s,
                (None, None) => {
                    return Err(invalid!(
                        "--shard auto: BATCH_TASK_INDEX is set but not BATCH_TASK_COUNT; add --shards N"
                    ));
                }
            };
            (id, count)
        }
        _ => {
            let what = match key {
                "SLURM_ARRAY_TASK_ID" => "",
                "JOB_COMPLETION_INDEX" => " (Kubernetes does not pass the Job's completions)",
                _ => " (AWS Batch does not pass the array size)",
            };
            let count = shards.with_context(|| {
                InvalidOption(format!(
                    "--shard auto: {key} is set; add --shards N, the number of tasks{what}"
                ))
            })?;
            (id, count)
        }
    };
    if count == 0 || index >= count {
        return Err(invalid!(
            "--shard auto: shard {index} of {count} from {}: need index < count{}",
            read.join(", "),
            if key == "SLURM_ARRAY_TASK_ID" {
                "; number the array 0-(N-1)"
            } else {
                ""
            }
        ));
    }
    if let Some(s) = shards {
        read.push(format!("--shards {s}"));
    }
    Ok(ShardChoice {
        index,
        count,
        source: read.join(", "),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn auto(vars: &[(&str, &str)], shards: Option<usize>) -> Result<ShardChoice, String> {
        let m: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        resolve_shard(Some("auto"), shards, &|k| m.get(k).cloned())
            .map(|s| s.expect("a shard"))
            .map_err(|e| e.to_string())
    }

    fn ok(index: usize, count: usize, source: &str) -> Result<ShardChoice, String> {
        Ok(ShardChoice {
            index,
            count,
            source: source.into(),
        })
    }

    #[test]
    fn slurm_arrays_with_offsets_and_steps() {
        // `--array=0-3`.
        let v = [
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        assert_eq!(
            auto(&v, None),
            ok(
                2,
                4,
                "SLURM_ARRAY_TASK_ID=2, SLURM_ARRAY_TASK_MIN=0, SLURM_ARRAY_TASK_COUNT=4"
            )
        );
        // `--array=1-4`: task 1 is shard 0, task 4 is shard 3.
        let v = |id| {
            [
                ("SLURM_ARRAY_TASK_ID", id),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_MAX", "4"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
            ]
        };
        assert_eq!(auto(&v("1"), None).unwrap().index, 0);
        assert_eq!(auto(&v("4"), None).unwrap().index, 3);
        // `--array=10-16:3` (10, 13, 16).
        let v = [
            ("SLURM_ARRAY_TASK_ID", "16"),
            ("SLURM_ARRAY_TASK_MIN", "10"),
            ("SLURM_ARRAY_TASK_STEP", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert_eq!(
            auto(&v, None),
            ok(
                2,
                3,
                "SLURM_ARRAY_TASK_ID=16, SLURM_ARRAY_TASK_MIN=10, SLURM_ARRAY_TASK_STEP=3, SLURM_ARRAY_TASK_COUNT=3"
            )
        );
        // A list `--array=0,5` (count 2): 5 is no index of a range.
        let v = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_COUNT", "2"),
        ];
        assert_eq!(
            auto(&v, None).unwrap_err(),
            "--shard auto: SLURM_ARRAY_TASK_ID=5, SLURM_ARRAY_TASK_MIN=0, SLURM_ARRAY_TASK_COUNT=2 is not a range MIN-MAX[:STEP]; number the array 0-(N-1) and add --shards N"
        );
        // With --shards N the task id is the index, whatever the (resubmitted) array holds.
        let v = [
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_MIN", "7"),
            ("SLURM_ARRAY_TASK_COUNT", "1"),
        ];
        assert_eq!(
            auto(&v, Some(16)),
            ok(7, 16, "SLURM_ARRAY_TASK_ID=7, --shards 16")
        );
        assert_eq!(
            auto(&v, Some(4)).unwrap_err(),
            "--shard auto: shard 7 of 4 from SLURM_ARRAY_TASK_ID=7: need index < count; number the array 0-(N-1)"
        );
        assert_eq!(
            auto(&[("SLURM_ARRAY_TASK_ID", "3")], None).unwrap_err(),
            "--shard auto: SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT; add --shards N"
        );
        assert_eq!(
            auto(&[("SLURM_ARRAY_TASK_ID", "x")], None).unwrap_err(),
            "--shard auto: SLURM_ARRAY_TASK_ID=x is not a non-negative integer"
        );
    }

    #[test]
    fn kubernetes_aws_and_google_batch() {
        let k = [("JOB_COMPLETION_INDEX", "3")];
        assert_eq!(
            auto(&k, Some(5)),
            ok(3, 5, "JOB_COMPLETION_INDEX=3, --shards 5")
        );
        assert_eq!(
            auto(&k, None).unwrap_err(),
            "--shard auto: JOB_COMPLETION_INDEX is set; add --shards N, the number of tasks (Kubernetes does not pass the Job's completions)"
        );
        assert_eq!(
            auto(&k, Some(3)).unwrap_err(),
            "--shard auto: shard 3 of 3 from JOB_COMPLETION_INDEX=3: need index < count"
        );
        assert_eq!(
            auto(&[("AWS_BATCH_JOB_ARRAY_INDEX", "0")], Some(2)),
            ok(0, 2, "AWS_BATCH_JOB_ARRAY_INDEX=0, --shards 2")
        );
        let g = [("BATCH_TASK_INDEX", "1"), ("BATCH_TASK_COUNT", "4")];
        assert_eq!(
            auto(&g, None),
            ok(1, 4, "BATCH_TASK_INDEX=1, BATCH_TASK_COUNT=4")
        );
        assert_eq!(
            auto(&g, Some(3)).unwrap_err(),
            "--shard auto: --shards 3 disagrees with BATCH_TASK_COUNT=4"
        );
    }

    #[test]
    fn no_or_several_schedulers_and_flag_combinations() {
        assert_eq!(
            auto(
                &[("SLURM_JOB_ID", "12"), ("JOB_COMPLETION_INDEX", " ")],
                None
            )
            .unwrap_err(),
            "--shard auto: none of SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX, BATCH_TASK_INDEX is set (not in a scheduler's array task?); pass --shard i/N"
        );
        assert_eq!(
            auto(
                &[("SLURM_ARRAY_TASK_ID", "1"), ("JOB_COMPLETION_INDEX", "1")],
                Some(2)
            )
            .unwrap_err(),
            "--shard auto: SLURM_ARRAY_TASK_ID and JOB_COMPLETION_INDEX are all set, so the scheduler is ambiguous; pass --shard i/N"
        );
        assert_eq!(
            auto(&[("JOB_COMPLETION_INDEX", "0")], Some(0)).unwrap_err(),
            "--shards must be at least 1"
        );
        let none = |_: &str| None;
        assert_eq!(resolve_shard(None, None, &none).unwrap(), None);
        assert_eq!(
            resolve_shard(Some("1/3"), None, &none).unwrap(),
            Some(ShardChoice {
                index: 1,
                count: 3,
                source: "--shard 1/3".into()
            })
        );
        let e = resolve_shard(None, Some(3), &none).unwrap_err();
        assert_eq!(e.to_string(), "--shards N goes with --shard auto");
        assert_eq!(
            crate::error::kind(&e),
            crate::error::ErrorKind::InvalidOption
        );
        assert_eq!(
            resolve_shard(Some("1/3"), Some(3), &none)
                .unwrap_err()
                .to_string(),
            "--shards N goes with --shard auto; --shard 1/3 gives the count itself"
        );
        let e = resolve_shard(Some("auto"), None, &none).unwrap_err();
        assert_eq!(
            crate::error::kind(&e),
            crate::error::ErrorKind::InvalidOption
        );
    }
}

//! `icam eval merge`: the folders of shards evaluated by separate processes (the tasks of a
//! cluster job) put back together as one evaluation. The folders must record the same run
//! (`run.json`'s identity: dataset, model, method columns and every option, compared as a
//! whole); every image of the dataset must be in exactly one folder and evaluated there. The
//! rows are then written in dataset order, so the merged `per_image.csv` and
//! `icam_layers.csv` are byte for byte those of one process evaluating the whole dataset, and
//! the summary, layer prominence and plot are computed from them as a single run does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::prominence::stage_prominence;
use super::rows::{LAYER_HEADER, Lines, complete, csv_line, read_lines};
use super::run_info::{IMAGES_FILE, RUN_FILE, RunInfo, differences, images_csv, read_images};
use super::summary::summarize_csv;
use crate::error::{NotFound, invalid};
use crate::output::Outputs;
use crate::progress::Progress;

/// What to merge.
#[derive(Clone, Debug, Default)]
pub struct MergeRequest {
    /// The evaluation folders (one per shard, in any order).
    pub dirs: Vec<PathBuf>,
    /// The merged folder (not one of `dirs`).
    pub out: PathBuf,
    /// Merge what is there when images are missing (a shard not given, or not finished),
    /// with a warning, instead of refusing.
    pub allow_missing: bool,
}

/// What a merge did.
#[derive(Clone, Debug)]
pub struct MergeOutcome {
    /// `summary.md`'s table.
    pub summary_md: String,
    /// `layer_prominence.md`, when I-CAM was evaluated.
    pub prominence: Option<PathBuf>,
    /// Images with rows in the merged `per_image.csv`.
    pub images: usize,
    /// Images of the dataset without rows (only with `allow_missing`).
    pub missing: usize,
    /// The merged `per_image.csv`.
    pub per_image: PathBuf,
}

/// One folder to merge.
struct Folder {
    dir: PathBuf,
    info: RunInfo,
    /// `(index in the dataset, name)`.
    images: Vec<(usize, String)>,
    /// The header line of `per_image.csv` (empty when there is none).
    header: String,
    /// Lines of `per_image.csv` by image, in file order.
    rows: BTreeMap<String, Vec<String>>,
    /// The images whose rows are complete.
    complete: BTreeSet<String>,
    /// Lines of `icam_layers.csv` by image.
    layers: BTreeMap<String, Vec<String>>,
    /// The last line of `timings.csv` of each image.
    timings: BTreeMap<String, String>,
}

/// Merge the evaluation folders of `req` into `req.out` (all files or none).
pub fn merge(req: &MergeRequest, progress: &mut dyn FnMut(Progress)) -> Result<MergeOutcome> {
    if req.dirs.is_empty() {
        return Err(invalid!("give the evaluation folders to merge"));
    }
    let out_canon = std::fs::canonicalize(&req.out).ok();
    let mut seen = BTreeSet::new();
    for d in &req.dirs {
        let canon = std::fs::canonicalize(d).ok();
        if out_canon.is_some() && canon == out_canon {
            return Err(invalid!(
                "--out {} is one of the folders to merge; give another",
                req.out.display()
            ));
        }
        if let Some(c) = canon
            && !seen.insert(c)
        {
            return Err(invalid!("{} is given twice", d.display()));
        }
    }
    let mut folders = Vec::new();
    for d in &req.dirs {
        folders.push(read_folder(d)?);
    }
    let first = &folders[0];
    for f in &folders[1..] {
        let diff = differences(&first.info.identity, &f.info.identity);
        if !diff.is_empty() {
            bail!(
                "{} and {} are not from the same evaluation: {}",
                first.dir.display(),
                f.dir.display(),
                diff.join("; ")
            );
        }
    }
    let identity = &first.info.identity;
    let methods: Vec<String> = serde_json::from_value(identity["methods"].clone())
        .with_context(|| format!("{}: no method columns", first.dir.join(RUN_FILE).display()))?;
    let total = first
        .info
        .dataset_images()
        .with_context(|| format!("{}: no dataset size", first.dir.join(RUN_FILE).display()))?;

    // Every image of the dataset in exactly one folder.
    let mut owner: BTreeMap<usize, (usize, &str)> = BTreeMap::new();
    let mut duplicates = Vec::new();
    for (fi, f) in folders.iter().enumerate() {
        for (index, name) in &f.images {
            if *index >= total {
                bail!(
                    "{}: image {index} is beyond the dataset's {total}",
                    f.dir.join(IMAGES_FILE).display()
                );
            }
            if let Some((other, _)) = owner.insert(*index, (fi, name)) {
                duplicates.push((name.as_str(), other, fi));
            }
        }
    }
    if let Some((name, a, b)) = duplicates.first() {
        let (a, b) = (&folders[*a], &folders[*b]);
        bail!(
            "image {name} is in both {} ({}) and {} ({}){}; give each shard once",
            a.dir.display(),
            a.info.shard_name(),
            b.dir.display(),
            b.info.shard_name(),
            match duplicates.len() - 1 {
                0 => String::new(),
                n => format!(", as are {n} more"),
            }
        );
    }
    for f in &folders {
        check_rows(f, &methods)?;
    }

    // Missing images: in no folder, or not evaluated in their folder.
    let mut missing_msgs = Vec::new();
    // Indices are unique and below `total`: the rest is in no folder.
    let mut missing = total - owner.len();
    if missing > 0 {
        missing_msgs.push(uncovered_message(&folders, &owner, total));
    }
    for f in &folders {
        let not_done: Vec<&str> = f
            .images
            .iter()
            .map(|(_, n)| n.as_str())
            .filter(|n| !f.complete.contains(*n))
            .collect();
        if !not_done.is_empty() {
            missing += not_done.len();
            missing_msgs.push(format!(
                "{} of {} of {} ({}) not evaluated ({}): its run was interrupted or limited; rerun its command to resume",
                not_done.len(),
                images(f.images.len()),
                f.dir.display(),
                f.info.shard_name(),
                list_some(&not_done)
            ));
        }
    }
    if missing > 0 {
        let msg = format!(
            "{missing} of {} missing: {}",
            images(total),
            missing_msgs.join("; ")
        );
        if !req.allow_missing {
            bail!("{msg}; merge what is there with --allow-missing");
        }
        progress(Progress::Warning(&msg));
    }

    // The rows in dataset order.
    let mut per_image = common_header(&folders)?;
    let mut layers = csv_line(&LAYER_HEADER.map(String::from))?;
    let mut timings = String::new();
    let mut merged_images = Vec::new();
    let mut evaluated = 0;
    for (&index, &(fi, name)) in &owner {
        let f = &folders[fi];
        merged_images.push((index, name.to_string()));
        if !f.complete.contains(name) {
            continue;
        }
        evaluated += 1;
        per_image.extend(f.rows[name].iter().map(String::as_str));
        layers.extend(f.layers.get(name).into_iter().flatten().map(String::as_str));
        timings.extend(f.timings.get(name).map(String::as_str));
    }
    let thresholds = thresholds(&per_image, &first.dir)?;
    let (md, csv) = summarize_csv(per_image.as_bytes(), &thresholds, &methods)?;
    let with_icam = identity["options"]["methods"]
        .as_array()
        .is_some_and(|m| m.iter().any(|m| m == "icam"));

    let out = &req.out;
    let mut o = Outputs::default();
    let per_image_path = out.join("per_image.csv");
    o.add(per_image_path.clone(), per_image.into_bytes());
    let prominence = if with_icam {
        Some(stage_prominence(&mut o, out, layers.as_bytes())?)
    } else {
        None
    };
    o.add(out.join("icam_layers.csv"), layers.into_bytes());
    o.add(out.join("timings.csv"), timings.into_bytes());
    o.add(out.join("summary.md"), md.clone().into_bytes());
    o.add(out.join("summary.csv"), csv.into_bytes());
    o.add(out.join(IMAGES_FILE), images_csv(&merged_images)?);
    o.json(
        out.join(RUN_FILE),
        &RunInfo {
            identity: identity.clone(),
            data: first.info.data.clone(),
            shard: None,
            limit: None,
            images: merged_images.len(),
            merged_from: req.dirs.iter().map(|d| d.display().to_string()).collect(),
        },
    )?;
    o.commit()?;
    progress(Progress::Note(&format!(
        "merged {} folders: {evaluated} of {total} images",
        folders.len()
    )));
    Ok(MergeOutcome {
        summary_md: md,
        prominence,
        images: evaluated,
        missing,
        per_image: per_image_path,
    })
}

fn read_folder(dir: &Path) -> Result<Folder> {
    if !dir.is_dir() {
        return Err(anyhow::Error::new(NotFound(format!(
            "evaluation folder not found: {}",
            dir.display()
        ))));
    }
    let info = RunInfo::read(dir)?.with_context(|| {
        format!(
            "{} has no {RUN_FILE}: not an `icam eval` folder, or one from an icam without run records (rerun its command to resume: that records it)",
            dir.display()
        )
    })?;
    let images = read_images(dir)?;
    let Lines { header, rows } = lines(&dir.join("per_image.csv"))?;
    let methods: Vec<String> =
        serde_json::from_value(info.identity["methods"].clone()).unwrap_or_default();
    let complete = complete(&rows, &methods);
    let mut by_image: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rows {
        by_image.entry(r.image).or_default().push(r.line);
    }
    let mut layers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in lines(&dir.join("icam_layers.csv"))?.rows {
        layers.entry(r.image).or_default().push(r.line);
    }
    let mut timings = BTreeMap::new();
    let t = dir.join("timings.csv");
    if t.is_file() {
        let text =
            std::fs::read_to_string(&t).with_context(|| format!("reading {}", t.display()))?;
        for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            if let Some((image, _)) = line.rsplit_once(',') {
                timings.insert(image.to_string(), line.to_string());
            }
        }
    }
    Ok(Folder {
        dir: dir.to_path_buf(),
        info,
        images,
        header,
        rows: by_image,
        complete,
        layers,
        timings,
    })
}

/// The lines of a CSV of the folder (none when it does not exist or is empty).
fn lines(path: &Path) -> Result<Lines> {
    if !path.is_file() {
        return Ok(Lines::default());
    }
    Ok(read_lines(path)?.unwrap_or_default())
}

/// The header of `per_image.csv`, the same in every folder that has one.
fn common_header(folders: &[Folder]) -> Result<String> {
    let mut with = folders.iter().filter(|f| !f.header.is_empty());
    let Some(first) = with.next() else {
        bail!(
            "no per_image.csv in {}: nothing was evaluated",
            folders
                .iter()
                .map(|f| f.dir.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    if let Some(f) = with.find(|f| f.header != first.header) {
        bail!(
            "{} and {} have other columns in per_image.csv",
            first.dir.display(),
            f.dir.display()
        );
    }
    Ok(first.header.clone())
}

/// Every folder's rows name its own images, with one row per method (or one failure row).
fn check_rows(f: &Folder, methods: &[String]) -> Result<()> {
    let listed: BTreeSet<&str> = f.images.iter().map(|(_, n)| n.as_str()).collect();
    let csv = f.dir.join("per_image.csv");
    for (image, lines) in &f.rows {
        if !listed.contains(image.as_str()) {
            bail!(
                "{} has rows of {image}, which is not one of its images ({IMAGES_FILE})",
                csv.display()
            );
        }
        if f.complete.contains(image) && lines.len() != methods.len() && lines.len() != 1 {
            bail!(
                "{}: {image} has {} rows, not one per method ({})",
                csv.display(),
                lines.len(),
                methods.len()
            );
        }
    }
    Ok(())
}

/// The localisation thresholds of `per_image.csv` (its `iou@T` columns).
fn thresholds(per_image: &str, dir: &Path) -> Result<Vec<f64>> {
    per_image
        .lines()
        .next()
        .unwrap_or_default()
        .split(',')
        .filter_map(|c| c.strip_prefix("iou@"))
        .map(|t| {
            t.parse::<f64>()
                .with_context(|| format!("{}: column iou@{t}", dir.display()))
        })
        .collect()
}

/// The images of the dataset in no folder: by shard when every folder is one shard of the
/// same count and the shards not given account for them, else by index. Counted, not
/// enumerated (a hostile `run.json` may claim any size).
fn uncovered_message<T>(folders: &[Folder], owner: &BTreeMap<usize, T>, total: usize) -> String {
    let missing = total - owner.len();
    let counts: BTreeSet<Option<usize>> = folders
        .iter()
        .map(|f| f.info.shard.map(|s| s.count))
        .collect();
    if let [Some(n)] = counts.iter().copied().collect::<Vec<_>>()[..] {
        let present: BTreeSet<usize> = folders
            .iter()
            .filter_map(|f| f.info.shard.map(|s| s.index))
            .filter(|&i| i < n)
            .collect();
        // Images of shard i: the k < total with k mod n = i.
        let size = |i: usize| {
            if i < total {
                (total - 1 - i) / n + 1
            } else {
                0
            }
        };
        let absent = (0..n).filter(|i| !present.contains(i));
        let absent_images: usize = if n - present.len() <= 100_000 {
            absent.clone().map(size).sum()
        } else {
            usize::MAX
        };
        if absent_images == missing {
            let shown: Vec<String> = absent
                .clone()
                .take(5)
                .map(|i| format!("shard {i}/{n} ({})", images(size(i))))
                .collect();
            let more = match n - present.len() {
                k if k > 5 => format!(", … ({k} shards)"),
                _ => String::new(),
            };
            return format!("no folder given holds {}{more}", shown.join(", "));
        }
    }
    let first: Vec<String> = (0..total)
        .filter(|k| !owner.contains_key(k))
        .take(6)
        .map(|k| k.to_string())
        .collect();
    let mut idx: Vec<&str> = first.iter().map(String::as_str).take(5).collect();
    if missing > 5 {
        idx.push("…");
    }
    format!(
        "{} of the dataset in no folder given (indices {})",
        images(missing),
        idx.join(", ")
    )
}

/// `1 image`, `2 images`.
fn images(n: usize) -> String {
    format!("{n} image{}", if n == 1 { "" } else { "s" })
}

/// The first few of a list: `a, b, c, … (12 in all)`.
fn list_some(items: &[&str]) -> String {
    const SHOWN: usize = 5;
    if items.len() <= SHOWN {
        items.join(", ")
    } else {
        format!("{}, … ({} in all)", items[..SHOWN].join(", "), items.len())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::prominence::prominence_csv;
    use super::super::rows::header;
    use super::super::run_info::ShardInfo;
    use super::*;

    const METHODS: [&str; 2] = ["icam-channel", "gradcam"];

    fn identity(curve_steps: usize) -> Value {
        json!({
            "icam": "0.1.0",
            "dataset": {"images": 5, "sha256": "abc"},
            "model": {"arch": "resnet50"},
            "methods": METHODS,
            "options": {"methods": ["icam", "gradcam"], "curve_steps": curve_steps},
        })
    }

    /// Image `k`'s rows (`fail`: one failure row) and layer rows, as an evaluation writes them.
    fn rows(k: usize, fail: bool) -> (String, String) {
        let name = format!("img{k}.png");
        let n = header(&[0.5]).len();
        let mut per_image = String::new();
        let methods: Vec<&str> = if fail { vec!["-"] } else { METHODS.to_vec() };
        for (mi, m) in methods.into_iter().enumerate() {
            let mut c = vec![String::new(); n];
            c[0] = name.clone();
            c[1] = m.into();
            c[7] = (k % 2).to_string();
            c[11] = format!("0.{k}{mi}");
            c[13] = format!("0.{mi}{k}");
            if fail {
                c[10] = "a, \"quoted\" error".into();
            }
            per_image.push_str(&csv_line(&c).unwrap());
        }
        let mut layers = String::new();
        if !fail {
            for l in ["layer1", "layer2"] {
                let c = [
                    &name,
                    "",
                    "3",
                    "x",
                    "1",
                    l,
                    "0.5",
                    "1",
                    "1",
                    &format!("0.{k}"),
                    "0",
                    "paper",
                ];
                layers.push_str(&csv_line(&c.map(String::from)).unwrap());
            }
        }
        (per_image, layers)
    }

    /// A folder of shard `i/n` of the 5-image dataset with its images `done` evaluated (image
    /// 3 fails), and `extra` appended to its `per_image.csv`.
    fn folder(
        root: &Path,
        name: &str,
        id: Value,
        shard: Option<(usize, usize)>,
        done: &[usize],
        extra: &str,
    ) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let (i, n) = shard.unwrap_or((0, 1));
        let images: Vec<(usize, String)> = (0..5)
            .filter(|k| k % n == i)
            .map(|k| (k, format!("img{k}.png")))
            .collect();
        let info = RunInfo {
            identity: id,
            data: "/data/x".into(),
            shard: shard.map(|(index, count)| ShardInfo { index, count }),
            limit: None,
            images: images.len(),
            merged_from: vec![],
        };
        std::fs::write(dir.join(RUN_FILE), serde_json::to_string(&info).unwrap()).unwrap();
        std::fs::write(dir.join(IMAGES_FILE), images_csv(&images).unwrap()).unwrap();
        let mut per_image = csv_line(&header(&[0.5])).unwrap();
        let mut layers = csv_line(&LAYER_HEADER.map(String::from)).unwrap();
        let mut timings = String::new();
        for &k in done {
            let (p, l) = rows(k, k == 3);
            per_image.push_str(&p);
            layers.push_str(&l);
            timings.push_str(&format!("img{k}.png,9.000\nimg{k}.png,0.{k}00\n"));
        }
        per_image.push_str(extra);
        std::fs::write(dir.join("per_image.csv"), per_image).unwrap();
        std::fs::write(dir.join("icam_layers.csv"), layers).unwrap();
        std::fs::write(dir.join("timings.csv"), timings).unwrap();
        dir
    }

    fn run(
        dirs: &[&PathBuf],
        out: &Path,
        allow_missing: bool,
    ) -> (Result<MergeOutcome>, Vec<String>) {
        let mut said = Vec::new();
        let req = MergeRequest {
            dirs: dirs.iter().map(|d| d.to_path_buf()).collect(),
            out: out.to_path_buf(),
            allow_missing,
        };
        let r = merge(&req, &mut |p| match p {
            Progress::Warning(w) => said.push(format!("warning: {w}")),
            Progress::Note(n) => said.push(n.to_string()),
            _ => {}
        });
        (r, said)
    }

    fn err(dirs: &[&PathBuf], out: &Path) -> String {
        let e = run(dirs, out, false).0.unwrap_err();
        assert!(!out.exists(), "a failed merge leaves nothing");
        format!("{e:#}")
    }

    #[test]
    fn rows_come_back_in_dataset_order() {
        let t = tempfile::tempdir().unwrap();
        // Shard 0/2 holds images 0, 2, 4; 1/2 holds 1, 3 (3 failed). Shard 1 was interrupted
        // in image 3's row and resumed: a cut line is no row.
        let a = folder(t.path(), "a", identity(20), Some((0, 2)), &[0, 2, 4], "");
        let b = folder(t.path(), "b", identity(20), Some((1, 2)), &[1, 3], "img9.p");
        let out = t.path().join("merged");
        let (o, said) = run(&[&b, &a], &out, false);
        let o = o.unwrap();
        assert_eq!(said, ["merged 2 folders: 5 of 5 images"]);
        assert_eq!((o.images, o.missing), (5, 0));
        let mut per_image = csv_line(&header(&[0.5])).unwrap();
        let mut layers = csv_line(&LAYER_HEADER.map(String::from)).unwrap();
        for k in 0..5 {
            let (p, l) = rows(k, k == 3);
            per_image.push_str(&p);
            layers.push_str(&l);
        }
        let read = |f: &str| std::fs::read_to_string(out.join(f)).unwrap();
        assert_eq!(read("per_image.csv"), per_image);
        assert_eq!(read("icam_layers.csv"), layers);
        // The last timing of each image.
        assert_eq!(
            read("timings.csv"),
            "img0.png,0.000\nimg1.png,0.100\nimg2.png,0.200\nimg3.png,0.300\nimg4.png,0.400\n"
        );
        let methods = METHODS.map(String::from);
        let (md, csv) = summarize_csv(per_image.as_bytes(), &[0.5], &methods).unwrap();
        assert_eq!((read("summary.md"), read("summary.csv")), (md.clone(), csv));
        assert_eq!(o.summary_md, md);
        assert!(md.contains("| icam-channel | 4 | 1/4 |"), "{md}");
        assert!(md.contains("1 image(s) failed"), "{md}");
        assert_eq!(
            read("layer_prominence.md"),
            prominence_csv(layers.as_bytes())
                .unwrap()
                .into_iter()
                .map(|(_, md, _)| md + "\n")
                .collect::<String>()
        );
        let info = RunInfo::read(&out).unwrap().unwrap();
        assert_eq!(info.identity, identity(20));
        assert_eq!((info.shard, info.images), (None, 5));
        assert_eq!(
            info.merged_from,
            [b.display().to_string(), a.display().to_string()]
        );
        assert_eq!(
            read_images(&out).unwrap(),
            (0..5)
                .map(|k| (k, format!("img{k}.png")))
                .collect::<Vec<_>>()
        );
        // The merged folder merges again (with nothing else), to the same rows.
        let again = t.path().join("again");
        run(&[&out], &again, false).0.unwrap();
        assert_eq!(
            std::fs::read(again.join("per_image.csv")).unwrap(),
            per_image.as_bytes()
        );
    }

    #[test]
    fn missing_duplicated_and_foreign_shards_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("merged");
        let s =
            |name, i, done: &[usize]| folder(t.path(), name, identity(20), Some((i, 3)), done, "");
        let (s0, s1, s2) = (s("s0", 0, &[0, 3]), s("s1", 1, &[1, 4]), s("s2", 2, &[2]));
        let p = |d: &PathBuf| d.display().to_string();
        // A shard not given.
        assert_eq!(
            err(&[&s0, &s2], &out),
            "2 of 5 images missing: no folder given holds shard 1/3 (2 images); merge what is there with --allow-missing"
        );
        assert_eq!(
            err(&[&s0], &out),
            "3 of 5 images missing: no folder given holds shard 1/3 (2 images), shard 2/3 (1 image); merge what is there with --allow-missing"
        );
        // A record claiming a huge dataset is counted, not enumerated.
        let mut huge = identity(20);
        huge["dataset"]["images"] = json!(1u64 << 50);
        let h = folder(t.path(), "huge", huge, Some((0, 1 << 40)), &[0], "");
        assert!(
            err(&[&h], &out).starts_with("1125899906842623 of 1125899906842624 images missing: 1125899906842623 images of the dataset in no folder given (indices 1, 2, 3, 4, 5, …)"),
        );
        // A shard given twice, or the same images in two folders.
        assert_eq!(
            err(&[&s0, &s1, &s0], &out),
            format!("{} is given twice", p(&s0))
        );
        let copy = s("copy", 1, &[1]);
        assert_eq!(
            err(&[&s0, &s1, &s2, &copy], &out),
            format!(
                "image img1.png is in both {} (shard 1/3) and {} (shard 1/3), as are 1 more; give each shard once",
                p(&s1),
                p(&copy)
            )
        );
        // Another option, or other shard counts with images in no folder.
        let other = folder(t.path(), "other", identity(10), Some((2, 3)), &[2], "");
        assert_eq!(
            err(&[&s0, &s1, &other], &out),
            format!(
                "{} and {} are not from the same evaluation: options.curve_steps: 20 ≠ 10",
                p(&s0),
                p(&other)
            )
        );
        let half = folder(t.path(), "half", identity(20), Some((0, 2)), &[0, 2, 4], "");
        let one = folder(t.path(), "one", identity(20), Some((1, 4)), &[1], "");
        assert_eq!(
            err(&[&half, &one], &out),
            "1 of 5 images missing: 1 image of the dataset in no folder given (indices 3); merge what is there with --allow-missing"
        );
        // A shard not finished: named with its images, refused, then merged on request.
        let s1_cut = folder(
            t.path(),
            "s1cut",
            identity(20),
            Some((1, 3)),
            &[1],
            "img4.png,icam-channel,,,,,,,,,,\n",
        );
        let msg = format!(
            "1 of 5 images missing: 1 of 2 images of {} (shard 1/3) not evaluated (img4.png): its run was interrupted or limited; rerun its command to resume",
            p(&s1_cut)
        );
        assert_eq!(
            err(&[&s0, &s1_cut, &s2], &out),
            format!("{msg}; merge what is there with --allow-missing")
        );
        let (o, said) = run(&[&s0, &s1_cut, &s2], &out, true);
        let o = o.unwrap();
        assert_eq!((o.images, o.missing), (4, 1));
        assert_eq!(
            said,
            [
                format!("warning: {msg}"),
                "merged 3 folders: 4 of 5 images".into()
            ]
        );
        let merged = std::fs::read_to_string(out.join("per_image.csv")).unwrap();
        assert!(!merged.contains("img4.png"));
        assert_eq!(read_images(&out).unwrap().len(), 5);
        // Rows of an image the folder does not hold; a folder without a record; --out an input.
        let stray = folder(
            t.path(),
            "stray",
            identity(20),
            Some((2, 3)),
            &[2],
            &rows(0, false).0,
        );
        assert_eq!(
            err(&[&s0, &s1, &stray], &t.path().join("m2")),
            format!(
                "{} has rows of img0.png, which is not one of its images (images.csv)",
                p(&stray.join("per_image.csv"))
            )
        );
        std::fs::remove_file(copy.join(RUN_FILE)).unwrap();
        assert!(err(&[&copy], &t.path().join("m3")).starts_with(&format!(
            "{} has no run.json: not an `icam eval` folder",
            p(&copy)
        )));
        let e = run(&[&s0, &s1, &s2], &s1, false).0.unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "--out {} is one of the folders to merge; give another",
                p(&s1)
            )
        );
        let e = run(&[], &out, false).0.unwrap_err();
        assert_eq!(
            crate::error::kind(&e),
            crate::error::ErrorKind::InvalidOption
        );
        let gone = t.path().join("gone");
        let e = run(&[&gone], &t.path().join("m4"), false).0.unwrap_err();
        assert_eq!(
            (e.to_string(), crate::error::kind(&e)),
            (
                format!("evaluation folder not found: {}", p(&gone)),
                crate::error::ErrorKind::NotFound
            )
        );
    }
}

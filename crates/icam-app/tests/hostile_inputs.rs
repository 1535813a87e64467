//! The dataset and array readers of the application layer under damaged input: a seeded
//! mutation test feeds thousands of mutated and truncated VOC XML files, CSV lists and `.npy`
//! arrays to `read_voc`, `read_csv` and `read_npy`; each must end in `Ok` or a clean error,
//! never a panic. (The model, weight and image loaders are tested the same way in
//! `crates/icam-models/tests/hostile.rs`.)

use std::path::Path;

use icam_app::dataset::{read_csv, read_voc};
use icam_app::output::{npy_bytes, read_npy};

/// splitmix64: the same mutations on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Truncation, bit flips, random or extreme bytes, duplicated or removed spans.
fn mutate(src: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = src.to_vec();
    for _ in 0..1 + rng.below(3) {
        let n = v.len().max(1);
        match rng.below(6) {
            0 => v.truncate(rng.below(n)),
            1 => {
                let i = rng.below(n);
                if let Some(b) = v.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
            2 => {
                let i = rng.below(n);
                if let Some(b) = v.get_mut(i) {
                    *b = [b'9', b'-', b'<', b',', b'"', 0xff, 0x00][rng.below(7)];
                }
            }
            3 => {
                let a = rng.below(n);
                let len = rng.below(48).min(v.len().saturating_sub(a));
                let chunk = v[a..a + len].to_vec();
                let at = rng.below(n).min(v.len());
                v.splice(at..at, chunk);
            }
            4 => {
                let a = rng.below(n);
                let len = rng.below(48).min(v.len().saturating_sub(a));
                v.drain(a..a + len);
            }
            _ => {
                let i = rng.below(n);
                if let Some(b) = v.get_mut(i) {
                    *b = rng.next() as u8;
                }
            }
        }
    }
    v
}

fn fuzz(name: &str, src: &[u8], file: &Path, count: usize, seed: u64, f: impl Fn(&Path)) {
    let mut rng = Rng(seed);
    for i in 0..count {
        let bytes = mutate(src, &mut rng);
        std::fs::write(file, &bytes).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(file)));
        if r.is_err() {
            let keep = std::env::temp_dir().join(format!("icam-fuzz-{name}-{i}"));
            let _ = std::fs::write(&keep, &bytes);
            panic!(
                "{name}: mutation {i} (seed {seed}) panicked; input kept at {}",
                keep.display()
            );
        }
    }
}

#[test]
fn mutated_dataset_files_and_arrays_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("JPEGImages");
    std::fs::create_dir(&images).unwrap();
    std::fs::write(images.join("a.jpg"), b"not decoded here").unwrap();
    let voc = br#"<annotation><folder>VOC</folder><filename>a.jpg</filename>
<size><width>500</width><height>375</height><depth>3</depth></size>
<object><name>dog</name><bndbox><xmin>48</xmin><ymin>240</ymin><xmax>195</xmax><ymax>371</ymax></bndbox></object>
<object><name>person</name><bndbox><xmin>8</xmin><ymin>12</ymin><xmax>352</xmax><ymax>498</ymax></bndbox></object>
</annotation>"#;
    let xml = dir.path().join("a.xml");
    fuzz("voc", voc, &xml, 2000, 11, |p| {
        let _ = read_voc(p, &images);
    });
    let csv = b"path,class,xmin,ymin,xmax,ymax\nJPEGImages/a.jpg,dog,48,240,195,371\nJPEGImages/a.jpg,dog,1.5,2,30,40\nJPEGImages/a.jpg,281\n";
    let list = dir.path().join("list.csv");
    fuzz("csv", csv, &list, 2000, 12, |p| {
        let _ = read_csv(p);
    });
    let npy = dir.path().join("a.npy");
    for (k, bytes) in [
        npy_bytes::<f32>(&[2, 3, 4], (0..24).map(|i| i as f32)).unwrap(),
        npy_bytes::<u8>(&[1, 8, 8], (0..64).map(|i| i as u8)).unwrap(),
    ]
    .into_iter()
    .enumerate()
    {
        fuzz("npy", &bytes, &npy, 2000, 13 + k as u64, |p| {
            let _ = read_npy(p);
        });
    }
}

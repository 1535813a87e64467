//! Stable hashes: per-image perturbation seeds (`icam eval`, `icam cases`) and the feature
//! cache's keys. FNV-1a 64 is written here by hand: eight lines, and it must never change
//! (seeds and cache folders depend on it), which a crate's next version could not promise.

/// FNV-1a 64 of bytes.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// The perturbation seed of one image of a dataset: `seed XOR FNV-1a(name)`, with `name` the
/// image's path relative to the dataset. It does not depend on shards or resumption.
pub fn image_seed(seed: u64, name: &str) -> u64 {
    seed ^ fnv1a(name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_known_values() {
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        // The published FNV-1a 64 test vector for "a".
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(image_seed(0, "a"), 0xaf63dc4c8601ec8c);
        assert_eq!(image_seed(5, "a"), 0xaf63dc4c8601ec8c ^ 5);
        assert_ne!(fnv1a(b"a.jpg"), fnv1a(b"b.jpg"));
    }
}

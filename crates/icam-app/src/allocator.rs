//! The memory allocator of the front-ends (`icam` and the Python package declare
//! [`MiMalloc`] their global allocator) and its one setting.
//!
//! A network pass allocates and frees buffers of tens of megabytes at a high rate. glibc's
//! allocator returns them to the kernel and faults them back in; mimalloc keeps them, but
//! purges (`madvise(MADV_DONTNEED)`) whatever is free when a timer set at the first free after
//! the last purge runs out (`purge_delay`, 1 s by default), and the next pass faults that
//! memory back in, zeroing every page. Measured on a batch-9 ResNet-50 forward + backward
//! (warm-up + 3 passes, `perf stat`): with 1 s, ~120 000 page faults and a third of the CPU time
//! in `clear_page_erms`; with 10 s, 23 000–39 000 faults (one purge every 10 s of wall clock,
//! more on a loaded machine) and 5.8–8.2 s task-clock; with 60 s, ~1 100 faults (the first
//! touch of the peak) and 5.4 s. [`keep_freed_memory`] sets [`PURGE_DELAY_MS`] = 60 s: a long
//! run re-faults its working set at most once a minute (≲ 1 % of its time), and memory still
//! goes back to the kernel a minute after a process idles (`icam serve`, a Python session).

pub use mimalloc::MiMalloc;

/// mimalloc 3's `mi_option_purge_delay` (its index in `mi_option_t`; the test below checks it
/// by its documented default).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Milliseconds a freed block stays mapped before mimalloc returns it to the kernel.
pub const PURGE_DELAY_MS: std::ffi::c_long = 60_000;

// Declared here rather than through `libmimalloc-sys`'s `extended` feature, which would pull
// in a crate (`cty`) for two C types; the symbols are in the mimalloc that `mimalloc` links.
unsafe extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    fn mi_option_get(option: std::ffi::c_int) -> std::ffi::c_long;
}

/// Keep freed memory mapped for [`PURGE_DELAY_MS`]. Call once, first thing in `main` (or at
/// module load); harmless when mimalloc is not the global allocator (it only sets an option).
pub fn keep_freed_memory() {
    // SAFETY: plain option setters of the linked mimalloc; called before other threads start.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
}

/// The current purge delay in milliseconds.
pub fn purge_delay_ms() -> std::ffi::c_long {
    // SAFETY: a plain option getter.
    unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_purge_delay_option_is_the_one_set() {
        // mimalloc 3 documents purge_delay's default as 1000 ms (MIMALLOC_PURGE_DELAY unset).
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(super::purge_delay_ms(), 1000);
        }
        super::keep_freed_memory();
        assert_eq!(super::purge_delay_ms(), super::PURGE_DELAY_MS);
    }
}

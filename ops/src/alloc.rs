//! The allocator of both binaries (the services above all): see the
//! `mimalloc` feature in `ops/Cargo.toml` for why and how it was measured.
//! Declared here, in the library both binaries link, so there is one.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long memory freed by the program stays with the allocator before it
/// goes back to the kernel: 10 s instead of mimalloc's 1 s (v3). The
/// pipeline frees and reallocates its insert buffers (tens of MB) every few
/// hundred ms; returned to the kernel, each comes back as fresh pages the
/// kernel must zero (`clear_page` was a fifth of the pipeline's CPU under
/// `invigil bench pipeline`). Kept 10 s, the buffers are reused, and memory
/// a burst needed is still returned once it is idle. Interleaved A/B, 2 × 3
/// rounds each: dataflow + chDB ~500k → ~640k events/s. An explicit
/// `MIMALLOC_PURGE_DELAY` in the environment wins.
#[cfg(feature = "mimalloc")]
pub fn keep_freed_memory() {
    /// `mi_option_purge_delay` in mimalloc.h (v2 and v3): the option after
    /// `deprecated_eager_commit_delay` (14), before `use_numa_nodes` (16),
    /// which libmimalloc-sys names.
    const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = libmimalloc_sys::mi_option_use_numa_nodes - 1;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: setting an option is a store into mimalloc's option table,
        // valid at any time; the delay is read when memory is next purged.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 10_000) };
    }
}

/// Without mimalloc (`--no-default-features`), the system allocator keeps
/// its own policy.
#[cfg(not(feature = "mimalloc"))]
pub fn keep_freed_memory() {}

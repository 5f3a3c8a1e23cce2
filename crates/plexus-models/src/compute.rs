//! How many CPU threads the models compute on.
//!
//! candle 0.11 on the CPU parallelises in two places. Matrix products go through `gemm`
//! with `Parallelism::Rayon(n)`, where `n` is `RAYON_NUM_THREADS` or the number of
//! physical cores, and run on whichever rayon pool the caller is in. Element-wise operations
//! on tensors of 64K elements or more (in a long prompt's first pass, not in decoding) go
//! to candle's own "barrier pool", sized once per process from `CANDLE_NUM_THREADS`, else
//! `RAYON_NUM_THREADS`, else the physical cores. Neither count can be set from code: only
//! the environment, read by candle itself, and changing the environment of a running
//! process is `unsafe`, which this workspace forbids.
//!
//! What this crate does: every forward pass runs inside a rayon pool of its own with
//! [`ComputeOptions::threads`] threads, which caps the matrix products, where nearly all the
//! time goes. To also cap the barrier pool, start the process with
//! `CANDLE_NUM_THREADS=1` (or `RAYON_NUM_THREADS=1`). On the 2-core machines Plexus was
//! measured on, one thread was as fast as two or faster, so one is the default.
//!
//! The environment also matters for speed: when `RAYON_NUM_THREADS` is unset, candle works
//! out the core count again for every matrix product, by reading `/proc/cpuinfo` on Linux
//! (`num_cpus::get_physical`, uncached), a few hundred times per generated token. Measured
//! here, setting `RAYON_NUM_THREADS=1` made decoding about 15% faster. A launcher (the
//! `plexus` binary) can set the variables before the process starts, or re-execute itself
//! with them: see [`thread_environment`] and [`threads_pinned_by_environment`].
//!
//! The thread count does not change results: within one build, outputs are bit-identical
//! for any count (the split is over output blocks, not over the sums).

/// The environment variables that pin candle's thread counts to `threads` (0 is taken as
/// 1), to set on a process before it starts: `RAYON_NUM_THREADS` (matrix products, and
/// what spares the per-product core count) and `CANDLE_NUM_THREADS` (element-wise work).
/// Use the same count as [`ComputeOptions::threads`]: where the environment says 1, matrix
/// products run on one thread whatever the pool.
pub fn thread_environment(threads: usize) -> [(&'static str, String); 2] {
    let threads = threads.max(1).to_string();
    [
        ("RAYON_NUM_THREADS", threads.clone()),
        ("CANDLE_NUM_THREADS", threads),
    ]
}

/// Whether this process was started with candle's thread count pinned
/// (`RAYON_NUM_THREADS` set to a positive number), as [`thread_environment`] does.
pub fn threads_pinned_by_environment() -> bool {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > 0)
}

/// Thread settings for a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComputeOptions {
    /// Compute threads for the matrix products; 0 is taken as 1.
    pub threads: usize,
}

impl Default for ComputeOptions {
    fn default() -> Self {
        ComputeOptions { threads: 1 }
    }
}

/// The pool a model computes in.
pub(crate) struct Compute {
    pool: rayon::ThreadPool,
}

impl Compute {
    pub(crate) fn new(options: &ComputeOptions) -> Result<Self, rayon::ThreadPoolBuildError> {
        let threads = options.threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("plexus-model-{i}"))
            .build()?;
        Ok(Compute { pool })
    }

    /// Runs `f` on the pool's threads, so any rayon work inside it stays in the pool.
    pub(crate) fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }

    /// The pool's thread count.
    pub(crate) fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }
}

impl std::fmt::Debug for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compute")
            .field("threads", &self.threads())
            .finish()
    }
}

//! CPU time per thread, read from Linux's `/proc`, to split a benchmark's cost between the
//! miner's thread and the validators' the way the reference script splits its axon's and
//! dendrite's (`server_cpu_ms_per_req`, `client_cpu_ms_per_req`).

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The name the benchmark gives the miner's worker threads (at most 15 bytes: Linux
/// truncates longer thread names, and the match below is exact).
pub(crate) const MINER_THREAD: &str = "bench-miner";

/// Nanoseconds spent on a CPU so far by the miner's threads and by every other thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CpuTime {
    miner_ns: u64,
    rest_ns: u64,
}

impl CpuTime {
    /// The process's CPU time now, or `None` where `/proc/self/task/*/schedstat` cannot be
    /// read (not Linux, or a kernel without scheduler statistics).
    pub(crate) fn now() -> Option<Self> {
        let mut total = Self::default();
        let mut threads = 0usize;
        for entry in fs::read_dir("/proc/self/task").ok()? {
            // A thread may exit while we list them; its time is then simply not counted.
            let Ok(entry) = entry else { continue };
            let Some(ns) = on_cpu_ns(&entry.path()) else {
                continue;
            };
            let name = fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            if name.trim_end() == MINER_THREAD {
                total.miner_ns += ns;
            } else {
                total.rest_ns += ns;
            }
            threads += 1;
        }
        (threads > 0).then_some(total)
    }

    /// CPU per request between `start` and `self`, for `requests` requests.
    pub(crate) fn per_request_since(self, start: Self, requests: usize) -> CpuPerRequest {
        let ms = |ns: u64| ns as f64 / 1e6 / requests.max(1) as f64;
        CpuPerRequest {
            miner_ms: ms(self.miner_ns.saturating_sub(start.miner_ns)),
            validators_ms: ms(self.rest_ns.saturating_sub(start.rest_ns)),
        }
    }
}

/// The first field of a thread's `schedstat`: nanoseconds it has run on a CPU.
fn on_cpu_ns(thread: &Path) -> Option<u64> {
    fs::read_to_string(thread.join("schedstat"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU time per request in one scenario, in milliseconds as the reference reports it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CpuPerRequest {
    /// The miner's thread: checking, answering and signing.
    pub miner_ms: f64,
    /// Every other thread: the validators' signing, sending and verifying.
    pub validators_ms: f64,
}

/// CPU time per request in each scenario.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScenarioCpu {
    /// The sequential scenario.
    pub sequential: CpuPerRequest,
    /// The concurrent scenario.
    pub concurrent: CpuPerRequest,
    /// The fan-out scenario.
    pub fanout: CpuPerRequest,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// Runs on this thread until the kernel has counted `ms` milliseconds of its CPU time,
    /// however busy the machine is.
    fn spin_cpu(ms: u64) {
        let own = || on_cpu_ns(Path::new("/proc/thread-self")).unwrap();
        let start = own();
        let mut x = 0u64;
        while own() < start + ms * 1_000_000 {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
    }

    #[test]
    fn splits_the_miners_thread_from_the_rest() {
        let Some(start) = CpuTime::now() else {
            return; // no /proc/self/task/*/schedstat here: nothing to measure
        };
        // A thread named as the miner's spins, then waits to be sampled: a thread's time is
        // only counted while it still exists.
        let (spun, spun_rx) = mpsc::channel();
        let (exit, exit_rx) = mpsc::channel::<()>();
        let miner = std::thread::Builder::new()
            .name(MINER_THREAD.into())
            .spawn(move || {
                spin_cpu(40);
                let _ = spun.send(());
                let _ = exit_rx.recv();
            })
            .unwrap();
        spin_cpu(40);
        spun_rx.recv().unwrap();
        let end = CpuTime::now().unwrap();
        exit.send(()).unwrap();
        miner.join().unwrap();

        // Tests in the same process may add to either side, never take away.
        let per = end.per_request_since(start, 1);
        assert!(per.miner_ms >= 40.0, "{per:?}");
        assert!(per.validators_ms >= 40.0, "{per:?}");
        let halves = end.per_request_since(start, 2);
        assert_eq!(halves.miner_ms * 2.0, per.miner_ms);
        assert_eq!(end.per_request_since(end, 0).validators_ms, 0.0);
    }
}

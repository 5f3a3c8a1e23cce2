//! When a long-running command stops: Ctrl-C, SIGTERM, or (for the processes `plexus up`
//! and `plexus devnet up` start) the death of the parent that started it.

use std::time::Duration;

/// Set on children, to the parent's pid, so they stop when their parent dies, even by
/// SIGKILL (which gives the parent no chance to stop them): an orphaned miner would
/// otherwise hold its port and a core forever.
pub const EXIT_WITH_PARENT_ENV: &str = "PLEXUS_EXIT_WITH_PARENT";

/// The value of [`EXIT_WITH_PARENT_ENV`] for the children this process starts.
pub fn exit_with_me() -> String {
    std::process::id().to_string()
}

/// Completes on Ctrl-C, on SIGTERM, or when the parent process is gone if this process was
/// started with [`EXIT_WITH_PARENT_ENV`].
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
        () = parent_gone() => tracing::warn!("the process that started this one is gone; stopping"),
    }
}

/// Completes when this process is re-parented (its parent died), if asked to watch for it;
/// never otherwise.
async fn parent_gone() {
    let Some(asked) = std::env::var_os(EXIT_WITH_PARENT_ENV) else {
        return std::future::pending().await;
    };
    // The parent's own pid, when given, also catches a parent that died before this
    // process first looked (it would already have been re-parented by then).
    let parent = asked
        .to_str()
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(std::os::unix::process::parent_id);
    loop {
        if std::os::unix::process::parent_id() != parent {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

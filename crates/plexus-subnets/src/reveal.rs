//! Weights committed and not yet revealed, kept in a file: the salt exists nowhere else, so
//! a validator restarted between its commit and the reveal epoch would otherwise never
//! reveal, and its commit would block new weights until it expired.

use std::io::Write;
use std::path::{Path, PathBuf};

use plexus_primitives::{AccountId, ChainId, NetUid};
use serde::{Deserialize, Serialize};

/// A commit waiting for its reveal epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingReveal {
    /// The chain it was committed on: after a devnet is reset, or a wallet moves to
    /// another chain, an old commit's reveal is not the new chain's to wait for. (Absent
    /// from files written before it was recorded.)
    #[serde(default)]
    pub chain_id: Option<ChainId>,
    /// Whose commit, on which subnet: a file left by another hotkey is not ours to reveal.
    pub hotkey: AccountId,
    pub netuid: NetUid,
    pub uids: Vec<u16>,
    pub weights: Vec<u16>,
    pub salt: Vec<u8>,
    pub version_key: u64,
    /// The subnet epoch from which the chain accepts the reveal.
    pub reveal_epoch: u64,
}

/// Where a validator keeps its pending reveal: one file per hotkey and subnet under a
/// directory, or nowhere (memory only).
#[derive(Debug, Clone)]
pub(crate) struct RevealFile {
    path: Option<PathBuf>,
}

impl RevealFile {
    /// The file for `hotkey` on `netuid` under `dir`; `None` keeps reveals in memory.
    pub fn new(dir: Option<&Path>, hotkey: &AccountId, netuid: NetUid) -> Self {
        Self {
            path: dir.map(|d| d.join(format!("{hotkey}-subnet-{netuid}.reveal.json"))),
        }
    }

    /// The pending reveal left by an earlier run, if there is a readable one for us on
    /// `chain_id`. Problems are logged, not returned: a validator keeps validating
    /// without it.
    pub fn load(
        &self,
        chain_id: &ChainId,
        hotkey: &AccountId,
        netuid: NetUid,
    ) -> Option<PendingReveal> {
        let path = self.path.as_ref()?;
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the pending reveal");
                return None;
            }
        };
        match serde_json::from_slice::<PendingReveal>(&bytes) {
            Ok(p)
                if p.hotkey == *hotkey
                    && p.netuid == netuid
                    && p.chain_id.as_ref().is_none_or(|c| c == chain_id) =>
            {
                tracing::info!(reveal_epoch = p.reveal_epoch, "found a commit to reveal");
                Some(p)
            }
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring a malformed pending reveal");
                None
            }
        }
    }

    /// Keeps `pending` (owner-only permissions; replaced atomically).
    pub fn save(&self, pending: &PendingReveal) {
        let Some(path) = &self.path else { return };
        if let Err(e) = write_private(path, &serde_json::to_vec(pending).unwrap_or_default()) {
            tracing::warn!(
                path = %path.display(),
                error = %e,
                "cannot keep the pending reveal; a restart before the reveal loses it"
            );
        }
    }

    /// Forgets the pending reveal (revealed, or refused for good).
    pub fn clear(&self) {
        let Some(path) = &self.path else { return };
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove the reveal file")
            }
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> ChainId {
        ChainId::new("plexus-reveal-test").unwrap()
    }

    fn pending(hotkey: AccountId) -> PendingReveal {
        PendingReveal {
            chain_id: Some(chain()),
            hotkey,
            netuid: NetUid(3),
            uids: vec![1, 2],
            weights: vec![65535, 100],
            salt: vec![7; 16],
            version_key: 0,
            reveal_epoch: 12,
        }
    }

    #[test]
    fn a_saved_reveal_survives_until_cleared_and_only_for_its_owner() {
        let dir = std::env::temp_dir().join(format!("plexus-reveal-{}", std::process::id()));
        let (me, other) = (AccountId([1; 32]), AccountId([2; 32]));
        let file = RevealFile::new(Some(&dir), &me, NetUid(3));
        assert_eq!(file.load(&chain(), &me, NetUid(3)), None);
        file.save(&pending(me));
        assert_eq!(file.load(&chain(), &me, NetUid(3)), Some(pending(me)));
        // Another subnet or hotkey reading the same file does not take it.
        assert_eq!(file.load(&chain(), &me, NetUid(4)), None);
        assert_eq!(file.load(&chain(), &other, NetUid(3)), None);
        // Nor does the same hotkey on another chain (a reset devnet, say)...
        let elsewhere = ChainId::new("plexus-other").unwrap();
        assert_eq!(file.load(&elsewhere, &me, NetUid(3)), None);
        // ...though a file from before chains were recorded is taken.
        file.save(&PendingReveal {
            chain_id: None,
            ..pending(me)
        });
        assert!(file.load(&elsewhere, &me, NetUid(3)).is_some());
        file.save(&pending(me));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.join(format!("{me}-subnet-3.reveal.json"));
            let mode = std::fs::metadata(path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        file.clear();
        assert_eq!(file.load(&chain(), &me, NetUid(3)), None);
        // A damaged file is ignored, not fatal.
        std::fs::write(dir.join(format!("{me}-subnet-3.reveal.json")), b"{oops").unwrap();
        assert_eq!(file.load(&chain(), &me, NetUid(3)), None);
        let _ = std::fs::remove_dir_all(&dir);
        // In memory only: nothing is written anywhere.
        let memory = RevealFile::new(None, &me, NetUid(3));
        memory.save(&pending(me));
        assert_eq!(memory.load(&chain(), &me, NetUid(3)), None);
    }
}

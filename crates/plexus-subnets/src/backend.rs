//! What a miner's model backend can fail with, shared by every subnet.

use plexus_wire::HandlerError;

/// Why a backend could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The request cannot be served (too long for the model, say).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The backend failed.
    #[error("backend failed: {0}")]
    Failed(String),
}

/// What a caller is told of a failed backend: that it failed, not how. The details (an
/// upstream's address, its error body, the machine's setup) are the miner's, and go to
/// its log.
pub const BACKEND_FAILED: &str = "the miner's backend failed";

impl From<BackendError> for HandlerError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::BadRequest(why) => HandlerError::bad_request(why),
            BackendError::Failed(why) => {
                tracing::warn!(%why, "the backend failed");
                HandlerError::internal(BACKEND_FAILED)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_are_not_told_how_a_backend_failed() {
        let failed = BackendError::Failed("upstream http://10.0.3.7:8000/v1: refused".into());
        let told = HandlerError::from(failed);
        assert_eq!((told.status, told.message.as_str()), (500, BACKEND_FAILED));
        let refused = HandlerError::from(BackendError::BadRequest("too long".into()));
        assert_eq!(
            (refused.status, refused.message.as_str()),
            (400, "too long")
        );
    }
}

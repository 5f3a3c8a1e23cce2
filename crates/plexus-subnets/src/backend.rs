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

impl From<BackendError> for HandlerError {
    fn from(e: BackendError) -> Self {
        match e {
            BackendError::BadRequest(why) => HandlerError::bad_request(why),
            BackendError::Failed(why) => HandlerError::internal(why),
        }
    }
}

//! A request's body, read within the gateway's limit, with refusals in OpenAI's shape.
//!
//! axum's own `Bytes` extractor answers a body over the limit with a plain-text 413, which
//! OpenAI's SDKs report as an error without a message.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;

use crate::Gateway;
use crate::openai::ApiError;

/// The bytes of a request's body.
pub(crate) struct Body(pub(crate) Bytes);

impl FromRequest<Gateway> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, gateway: &Gateway) -> Result<Self, ApiError> {
        Bytes::from_request(request, gateway)
            .await
            .map(Body)
            .map_err(|refused| match refused.status() {
                StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::body_too_large(gateway.inner.config.max_body_bytes)
                }
                _ => ApiError::bad_request(None, refused.body_text()),
            })
    }
}

//! Turning a handler's answer into a signed response: JSON bodies signed in headers,
//! streams signed in their final event, refusals unsigned.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use plexus_primitives::{AccountId, Domain, Hash, Keypair};

use crate::admission::Permit;
use crate::handler::{ChunkStream, HandlerError};
use crate::headers::{RequestHeaders, ResponseHeaders};
use crate::message::ResponseMessage;
use crate::refusal::{ErrorBody, HANDLER_ERROR_CODE, Refusal};
use crate::sse::{StreamEnd, StreamHasher, chunk_frame, end_frame, error_frame};

/// What signing one request's answer needs, owned so a stream can carry it.
pub(crate) struct Signer {
    pub(crate) keypair: Arc<Keypair>,
    pub(crate) domain: Domain,
    pub(crate) callee: AccountId,
    pub(crate) headers: RequestHeaders,
    pub(crate) route: String,
}

impl Signer {
    fn sign(&self, status: u16, body_hash: Hash) -> plexus_primitives::Signature {
        ResponseMessage {
            callee: self.callee,
            caller: self.headers.caller,
            netuid: self.headers.netuid,
            nonce: self.headers.nonce,
            lane: self.headers.lane,
            route: &self.route,
            request_body_hash: self.headers.body_hash,
            status,
            body_hash,
        }
        .sign_in(&self.keypair, &self.domain)
    }

    pub(crate) fn json(&self, status: StatusCode, body: Bytes) -> Response {
        let body_hash = Hash::of(&body);
        let signature = self.sign(status.as_u16(), body_hash);
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        ResponseHeaders {
            body_hash,
            signature,
        }
        .write_to(headers);
        response
    }

    pub(crate) fn error(&self, error: &HandlerError) -> Response {
        let (status, body) = error_answer(error);
        self.json(status, Bytes::from(body))
    }

    pub(crate) fn stream(self, chunks: ChunkStream, permit: Permit) -> Response {
        struct St {
            chunks: ChunkStream,
            hasher: StreamHasher,
            signer: Signer,
            permit: Option<Permit>,
        }
        let state = St {
            chunks,
            hasher: StreamHasher::new(),
            signer: self,
            permit: Some(permit),
        };
        let events = futures_util::stream::unfold(state, |mut st| async move {
            // `permit` is None once the end event went out: the stream is over.
            st.permit.as_ref()?;
            let frame = match st.chunks.next().await {
                Some(Ok(value)) => {
                    let json = value.to_string();
                    st.hasher.push(json.as_bytes());
                    chunk_frame(json.as_bytes())
                }
                Some(Err(error)) => {
                    st.permit = None;
                    let (status, body) = error_answer(&error);
                    st.hasher.push(&body);
                    let body_hash = st.hasher.finish();
                    let mut frame = error_frame(&body);
                    frame.extend(end_frame(&StreamEnd {
                        status: status.as_u16(),
                        body_hash,
                        signature: st.signer.sign(status.as_u16(), body_hash),
                    }));
                    frame
                }
                None => {
                    st.permit = None;
                    let body_hash = st.hasher.finish();
                    end_frame(&StreamEnd {
                        status: 200,
                        body_hash,
                        signature: st.signer.sign(200, body_hash),
                    })
                }
            };
            Some((Ok::<_, Infallible>(Bytes::from(frame)), st))
        });
        let mut response = Response::new(Body::from_stream(events));
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }
}

/// A handler error's status (any status outside 400..=599 is sent as 500) and its
/// compact JSON body.
fn error_answer(error: &HandlerError) -> (StatusCode, Vec<u8>) {
    let status = StatusCode::from_u16(error.status)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = ErrorBody {
        code: HANDLER_ERROR_CODE.to_owned(),
        message: error.message.clone(),
    };
    (status, serde_json::to_vec(&body).unwrap_or_default())
}

pub(crate) fn refusal_response(refusal: &Refusal) -> Response {
    let body = serde_json::to_vec(&refusal.body()).unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(refusal.kind.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(wait) = refusal.retry_after {
        // Retry-After is whole seconds; round up so a prompt retry is not refused again.
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        headers.insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

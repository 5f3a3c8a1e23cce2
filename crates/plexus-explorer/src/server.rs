//! The explorer's HTTP routes.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use jsonrpsee_http_client::HttpClient;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::assets;
use crate::budget::{self, AnswerBudget};
use crate::history::{self, SharedHistory};
use crate::proxy::{self, ProxyLimits};

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The node's RPC.
    pub client: HttpClient,
    /// Sampled epochs.
    pub history: SharedHistory,
    /// The node's WebSocket URL, as configured.
    pub ws_url: String,
    /// Bounds on `POST /rpc`.
    pub limits: ProxyLimits,
    /// `POST /rpc` requests being answered; beyond its permits they are
    /// turned away at once rather than queued without bound.
    pub pending: Arc<Semaphore>,
    /// Node answers held until sent, shared by all requests.
    pub answers: AnswerBudget,
}

/// Every route; `POST /rpc` bodies are limited to `max_request_bytes`.
pub fn router(state: AppState, max_request_bytes: usize) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/{name}", get(asset))
        .route("/favicon.ico", get(favicon))
        .route("/config.json", get(config))
        .route(
            "/rpc",
            post(rpc).layer(DefaultBodyLimit::max(max_request_bytes)),
        )
        .route("/api/history/{netuid}", get(history))
        .fallback(not_found)
        .with_state(state)
}

/// Headers every answer carries: nothing sniffed, framed or referred.
fn hardened(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The page may load only its own files and talk only to its own origin
/// and a WebSocket (the node's): no CDN, no inline script, no eval.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

async fn index() -> Response {
    asset_response("index.html")
}

async fn asset(Path(name): Path<String>) -> Response {
    if name == "index.html" {
        return not_found().await;
    }
    asset_response(&name)
}

async fn favicon() -> Response {
    asset_response("favicon.svg")
}

fn asset_response(name: &str) -> Response {
    let Some(file) = assets::get(name) else {
        return hardened((StatusCode::NOT_FOUND, "not found").into_response());
    };
    let mut response = ([(header::CONTENT_TYPE, file.content_type)], file.body).into_response();
    if file.content_type.starts_with("text/html") {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    hardened(response)
}

async fn not_found() -> Response {
    hardened((StatusCode::NOT_FOUND, "not found").into_response())
}

async fn config(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(hostname_of);
    let body = json!({
        "ws_url": page_ws_url(&state.ws_url, host),
        "history_epochs": history::read(&state.history).depth(),
        "read_methods": proxy::READ_METHODS,
        "max_batch": state.limits.max_batch,
        "version": env!("CARGO_PKG_VERSION"),
    });
    hardened(axum::Json(body).into_response())
}

async fn rpc(State(state): State<AppState>, body: Bytes) -> Response {
    let Ok(_permit) = state.pending.try_acquire() else {
        let busy = proxy::error(
            serde_json::Value::Null,
            proxy::codes::NODE_UNAVAILABLE,
            "the explorer is busy; try again",
        );
        return hardened((StatusCode::SERVICE_UNAVAILABLE, axum::Json(busy)).into_response());
    };
    let reply = proxy::answer(&state.client, &body, state.limits, &state.answers).await;
    let length: usize = reply.parts.iter().map(Bytes::len).sum();
    let mut response = Response::new(budget::body(reply.parts, reply.held));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    hardened(response)
}

async fn history(State(state): State<AppState>, Path(netuid): Path<String>) -> Response {
    // Parsed here, not by the extractor: its refusal is plain text without our headers.
    let Ok(netuid) = netuid.parse::<u16>() else {
        let why = format!("{netuid:?} is not a subnet id: a whole number from 0 to 65535");
        let body = axum::Json(json!({ "error": why }));
        return hardened((StatusCode::BAD_REQUEST, body).into_response());
    };
    let samples = history::read(&state.history).samples(netuid);
    hardened(axum::Json(json!({"netuid": netuid, "epochs": samples})).into_response())
}

/// `ws://…` for `http://…` and `wss://…` for `https://…`, if the URL is
/// either (with a host).
pub fn ws_url_of(rpc_url: &str) -> Option<String> {
    let (scheme, rest) = if let Some(rest) = rpc_url.strip_prefix("http://") {
        ("ws://", rest)
    } else if let Some(rest) = rpc_url.strip_prefix("https://") {
        ("wss://", rest)
    } else {
        return None;
    };
    split_authority(rest)?;
    Some(format!("{scheme}{rest}"))
}

/// Whether `scheme://USER[:PASSWORD]@HOST…` names credentials.
pub fn has_credentials(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?', '#'])
        .next()
        .is_some_and(|a| a.contains('@'))
}

/// The host and optional port of `scheme://HOST[:PORT][/…]`'s remainder.
fn split_authority(rest: &str) -> Option<(&str, Option<&str>)> {
    let authority = rest.split('/').next()?;
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    (!host.is_empty()).then_some((host, port))
}

/// The host name of a `Host` header (without its port), if it is a plain
/// name or address.
fn hostname_of(host_header: &str) -> Option<&str> {
    let (host, _) = split_authority(host_header)?;
    host.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
        .then_some(host)
}

fn is_local(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

/// The WebSocket URL the page should dial. A node on a loopback or
/// unspecified address is only reachable at that address from this
/// machine; a browser elsewhere (a request whose `Host` is not local) is
/// sent to the same port on the host it reached the explorer by, which works
/// when the node listens on every interface. When neither works the page
/// falls back to polling through `/rpc`.
pub fn page_ws_url(ws_url: &str, request_host: Option<&str>) -> String {
    let (scheme, rest) = ws_url.split_once("://").unwrap_or(("ws", ws_url));
    let Some((host, port)) = split_authority(rest) else {
        return ws_url.to_owned();
    };
    let path = rest.split_once('/').map_or("", |(_, p)| p);
    let dial = match request_host {
        Some(seen) if is_local(host) && !is_local(seen) => seen,
        // A browser cannot dial 0.0.0.0 reliably; on this machine it is loopback.
        _ if host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified()) =>
        {
            "127.0.0.1"
        }
        _ => return ws_url.to_owned(),
    };
    let host = if dial.contains(':') {
        format!("[{dial}]")
    } else {
        dial.to_owned()
    };
    let port = port.map(|p| format!(":{p}")).unwrap_or_default();
    let path = if path.is_empty() {
        String::new()
    } else {
        format!("/{path}")
    };
    format!("{scheme}://{host}{port}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_websocket_is_the_rpc_address_with_a_ws_scheme() {
        assert_eq!(
            ws_url_of("http://127.0.0.1:9944").as_deref(),
            Some("ws://127.0.0.1:9944")
        );
        assert_eq!(
            ws_url_of("https://node.example:443/rpc").as_deref(),
            Some("wss://node.example:443/rpc")
        );
        assert_eq!(ws_url_of("ws://127.0.0.1:9944"), None);
        assert_eq!(ws_url_of("http://"), None);
        assert_eq!(ws_url_of("127.0.0.1:9944"), None);
        assert!(has_credentials("https://me:pw@node.example/rpc"));
        assert!(has_credentials("http://token@127.0.0.1:9944"));
        assert!(!has_credentials("http://127.0.0.1:9944/a@b"));
        assert!(!has_credentials("https://node.example/rpc?key=a@b"));
    }

    #[test]
    fn a_remote_browser_dials_the_host_it_came_by() {
        let local = "ws://127.0.0.1:9944";
        assert_eq!(page_ws_url(local, Some("127.0.0.1")), local);
        assert_eq!(page_ws_url(local, Some("localhost")), local);
        assert_eq!(page_ws_url(local, None), local);
        assert_eq!(
            page_ws_url(local, Some("explorer.example")),
            "ws://explorer.example:9944"
        );
        assert_eq!(page_ws_url(local, Some("fd00::1")), "ws://[fd00::1]:9944");
        assert_eq!(
            page_ws_url("ws://0.0.0.0:9944", Some("127.0.0.1")),
            "ws://127.0.0.1:9944"
        );
        let public = "wss://node.example/ws";
        assert_eq!(page_ws_url(public, Some("other.example")), public);
    }

    #[test]
    fn host_headers_are_read_strictly() {
        assert_eq!(hostname_of("example.com:8081"), Some("example.com"));
        assert_eq!(hostname_of("[::1]:8081"), Some("::1"));
        assert_eq!(hostname_of("a\"b:1"), None);
        assert_eq!(hostname_of(""), None);
    }
}

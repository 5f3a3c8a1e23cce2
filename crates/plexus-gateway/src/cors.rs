//! Which web pages may call the gateway from a browser (CORS).
//!
//! None unless the operator names their origins: a browser sends a page's requests with
//! the user's network position, so an open gateway callable from every page would serve
//! any site a user of this machine visits. Named origins get what OpenAI's browser SDKs
//! need: `GET` and `POST`, the request headers they ask for (`Authorization`, the SDK's
//! own), and the answer's `Retry-After` and miner headers readable by the page.

use std::str::FromStr;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::{MINER_HOTKEY_HEADER, MINER_UID_HEADER};

/// How long a browser may reuse a preflight's answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(2 * 60 * 60);

/// A web origin whose pages may call the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigin {
    /// Every page (`*`).
    Any,
    /// The pages of one origin: scheme, host and port, as browsers send it in `Origin`
    /// (`http://localhost:3000`).
    Exact(HeaderValue),
}

/// Why a CORS origin was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorsOriginError {
    /// Not `http://` or `https://` followed by a host.
    #[error("`{0}` is not an origin: write it as scheme and host, e.g. http://localhost:3000")]
    Shape(String),
    /// A path, query or fragment after the host: an origin has none.
    #[error("`{0}` has a path; an origin is only scheme, host and port (drop what follows)")]
    Path(String),
}

impl FromStr for CorsOrigin {
    type Err = CorsOriginError;

    fn from_str(s: &str) -> Result<Self, CorsOriginError> {
        let origin = s.trim();
        if origin == "*" {
            return Ok(Self::Any);
        }
        let shape = || CorsOriginError::Shape(origin.to_owned());
        let (scheme, host) = origin.split_once("://").ok_or_else(shape)?;
        if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
            return Err(shape());
        }
        if host.contains(['/', '?', '#']) {
            return Err(CorsOriginError::Path(origin.to_owned()));
        }
        let usable = |c: char| c.is_ascii_alphanumeric() || "-._:[]".contains(c);
        if host.is_empty() || !host.chars().all(usable) {
            return Err(shape());
        }
        // Browsers send scheme and host in lower case, and no port when it is the
        // scheme's own: compare as they send.
        let origin = origin.to_ascii_lowercase();
        let origin = match (origin.strip_suffix(":80"), origin.strip_suffix(":443")) {
            (Some(bare), _) if origin.starts_with("http:") => bare,
            (_, Some(bare)) if origin.starts_with("https:") => bare,
            _ => &origin,
        };
        HeaderValue::from_str(origin)
            .map(Self::Exact)
            .map_err(|_| shape())
    }
}

impl std::fmt::Display for CorsOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Exact(origin) => f.write_str(origin.to_str().unwrap_or("?")),
        }
    }
}

/// The layer answering preflights and marking answers for `origins`; none when empty.
pub(crate) fn layer(origins: &[CorsOrigin]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.contains(&CorsOrigin::Any) {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| match o {
            CorsOrigin::Exact(origin) => Some(origin.clone()),
            CorsOrigin::Any => None,
        }))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            // OpenAI's SDKs send headers of their own (`x-stainless-*`) besides
            // `Authorization` and `Content-Type`; every one a page asks for is allowed.
            .allow_headers(AllowHeaders::mirror_request())
            .expose_headers([
                axum::http::header::RETRY_AFTER,
                HeaderName::from_static(MINER_UID_HEADER),
                HeaderName::from_static(MINER_HOTKEY_HEADER),
            ])
            .max_age(PREFLIGHT_MAX_AGE)
            // A named site's pages may call a gateway on this machine or its network
            // (Chrome asks first, for such an address, from a public page).
            .allow_private_network(true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_and_host_only() {
        let exact = |s: &str| CorsOrigin::Exact(HeaderValue::from_str(s).unwrap());
        assert_eq!("*".parse(), Ok(CorsOrigin::Any));
        assert_eq!(
            " http://localhost:3000 ".parse(),
            Ok(exact("http://localhost:3000"))
        );
        assert_eq!(
            "HTTPS://Chat.Example.com".parse(),
            Ok(exact("https://chat.example.com"))
        );
        assert_eq!("http://[::1]:5173".parse(), Ok(exact("http://[::1]:5173")));
        // The scheme's own port is left out, as browsers leave it out.
        assert_eq!("http://a.com:80".parse(), Ok(exact("http://a.com")));
        assert_eq!("https://a.com:443".parse(), Ok(exact("https://a.com")));
        assert_eq!("https://a.com:80".parse(), Ok(exact("https://a.com:80")));
        for shape in ["localhost:3000", "ftp://x", "http://", "http://a b", ""] {
            let refused = shape.parse::<CorsOrigin>();
            assert_eq!(refused, Err(CorsOriginError::Shape(shape.trim().into())));
        }
        for path in [
            "http://localhost:3000/",
            "https://a.com/app",
            "http://a?x=1",
        ] {
            let refused = path.parse::<CorsOrigin>();
            assert_eq!(refused, Err(CorsOriginError::Path(path.into())));
        }
        assert_eq!(exact("http://a.com").to_string(), "http://a.com");
    }

    #[test]
    fn only_named_origins_set_up_cors() {
        assert!(layer(&[]).is_none());
        // Every page, without credentials: a rule set tower-http takes.
        assert!(layer(&[CorsOrigin::Any]).is_some());
    }
}

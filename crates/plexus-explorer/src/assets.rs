//! The page's files, compiled into the binary: the explorer works with no
//! network beyond the node and needs nothing installed beside `plexus`.
//!
//! Plain ES modules, no framework and no build step, so what is served is
//! what is in `assets/` and a browser test exercises exactly that.

/// One embedded file.
#[derive(Clone, Copy, Debug)]
pub struct Asset {
    /// Its name under `/assets/` (`index.html` is served at `/`).
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its text.
    pub body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const SVG: &str = "image/svg+xml";

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_str!(concat!("../assets/", $name)),
        }
    };
}

/// Every file the page uses.
pub const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("explorer.css", CSS),
    asset!("favicon.svg", SVG),
    asset!("app.js", JS),
    asset!("chain.js", JS),
    asset!("chart.js", JS),
    asset!("format.js", JS),
    asset!("pages.js", JS),
    asset!("subnet.js", JS),
    asset!("table.js", JS),
];

/// The file called `name`, if there is one.
pub fn get(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_the_page_imports_is_embedded() {
        // Each module's imports and the page's links name files served here,
        // so nothing is ever fetched from elsewhere.
        for asset in ASSETS {
            for quote in ['"', '\''] {
                for (i, _) in asset.body.match_indices(&format!("{quote}./")) {
                    let rest = &asset.body[i + 3..];
                    let name = &rest[..rest.find(quote).unwrap_or(0)];
                    assert!(get(name).is_some(), "{} imports {name}", asset.name);
                }
                for (i, _) in asset.body.match_indices(&format!("{quote}/assets/")) {
                    let rest = &asset.body[i + 9..];
                    let name = &rest[..rest.find(quote).unwrap_or(0)];
                    assert!(get(name).is_some(), "{} links {name}", asset.name);
                }
            }
        }
    }

    #[test]
    fn nothing_is_loaded_from_another_origin() {
        for asset in ASSETS {
            // The SVG namespace is a name, not an address anything is fetched from.
            let body = asset.body.replace("http://www.w3.org/2000/svg", "");
            // No other origin, and no inline script or style the page's
            // Content-Security-Policy would refuse (and log as an error).
            for needle in [
                "http://", "https://", "//cdn", "<script>", " style=", "eval(",
            ] {
                assert!(!body.contains(needle), "{} contains {needle:?}", asset.name);
            }
        }
    }
}

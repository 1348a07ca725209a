//! The GraphiQL page (`GET /graphql/`, `GET /api/graphql/`) and its assets, all compiled into
//! the binary: GraphiQL and React at pinned versions (`assets/graphiql/`, vendored, see its
//! README) and the page's own login bar (`assets/graphiql-page/`). Nothing is fetched from
//! another origin, so the page works on a network without internet.
//!
//! Assets are served at `/graphql/static/<name>`; the page names each with `?v=` and a digest
//! of its content, so they may be cached for a year and a new binary's files are still fetched.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// Where the assets are served; the page links them from here.
const STATIC_PREFIX: &str = "/graphql/static/";

/// The page may load scripts, styles and fonts from its own origin only (GraphiQL styles
/// elements inline and embeds its fonts as `data:` URLs), call only its own origin, and be
/// framed by no one.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A file the page loads: its name under [`STATIC_PREFIX`], content type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const ASSETS: [Asset; 6] = [
    Asset {
        name: "react.production.min.js",
        content_type: JS,
        bytes: include_bytes!("../assets/graphiql/react.production.min.js"),
    },
    Asset {
        name: "react-dom.production.min.js",
        content_type: JS,
        bytes: include_bytes!("../assets/graphiql/react-dom.production.min.js"),
    },
    Asset {
        name: "graphiql.min.js",
        content_type: JS,
        bytes: include_bytes!("../assets/graphiql/graphiql.min.js"),
    },
    Asset {
        name: "graphiql.min.css",
        content_type: CSS,
        bytes: include_bytes!("../assets/graphiql/graphiql.min.css"),
    },
    Asset {
        name: "ferrobot-graphiql.js",
        content_type: JS,
        bytes: include_bytes!("../assets/graphiql-page/ferrobot-graphiql.js"),
    },
    Asset {
        name: "ferrobot-graphiql.css",
        content_type: CSS,
        bytes: include_bytes!("../assets/graphiql-page/ferrobot-graphiql.css"),
    },
];

const TEMPLATE: &str = include_str!("../assets/graphiql-page/index.html");

/// The page, its `{{<asset name>}}` placeholders replaced by the assets' URLs (made once).
fn html() -> &'static str {
    static HTML: OnceLock<String> = OnceLock::new();
    HTML.get_or_init(|| {
        ASSETS.iter().fold(TEMPLATE.to_owned(), |page, asset| {
            let digest = hex::encode(&Sha256::digest(asset.bytes)[..6]);
            let url = format!("{STATIC_PREFIX}{}?v={digest}", asset.name);
            page.replace(&format!("{{{{{}}}}}", asset.name), &url)
        })
    })
}

/// `GET /graphql/` and `GET /api/graphql/`: the page, under its Content-Security-Policy.
pub(crate) async fn page() -> Response {
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
    ];
    (headers, html()).into_response()
}

/// `GET /graphql/static/{name}`: an asset, cacheable for a year (its URL changes with it).
pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "No such GraphiQL asset.").into_response();
    };
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
    ];
    (headers, asset.bytes).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_links_every_asset_and_nothing_else() {
        let page = html();
        assert!(!page.contains("{{"), "a placeholder is left: {page}");
        for asset in &ASSETS {
            assert!(
                page.contains(&format!("\"{STATIC_PREFIX}{}?v=", asset.name)),
                "{}",
                asset.name
            );
        }
        assert!(!page.contains("http://") && !page.contains("https://"));
    }
}

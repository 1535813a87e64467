//! The page, embedded in the binary: plain HTML, CSS and JavaScript (no build step, no CDN),
//! and the example photo.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// A file of the page.
pub struct Asset {
    content_type: &'static str,
    body: &'static [u8],
}

pub const INDEX: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("page/index.html"),
};
pub const APP_JS: Asset = Asset {
    content_type: "text/javascript; charset=utf-8",
    body: include_bytes!("page/app.js"),
};
pub const STYLE_CSS: Asset = Asset {
    content_type: "text/css; charset=utf-8",
    body: include_bytes!("page/style.css"),
};
/// The README's example photo (scikit-image's `chelsea`, CC0), for a first try.
pub const EXAMPLE: Asset = Asset {
    content_type: "image/png",
    body: include_bytes!("../../../../examples/images/skimage_chelsea.png"),
};

/// The page's own files only: no inline script or style, no other origin; pictures from the
/// API come as `data:` URLs, the user's photo as a `blob:` URL.
const CSP: &str = concat!(
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; ",
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
);

pub fn page(a: Asset) -> Response {
    let mut r = a.body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

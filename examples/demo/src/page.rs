//! The web page: one HTML file with its CSS and JavaScript, compiled into the binary. No build
//! step: edit `page.html` and rebuild.

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

const PAGE: &str = include_str!("page.html");

/// `GET /`.
pub(crate) async fn index() -> Response {
    let mut response = Html(PAGE).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

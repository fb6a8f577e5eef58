//! Static assets, compiled into the binary so a deployment is one file.

use actix_web::HttpResponse;

const STYLESHEET: &str = include_str!("../../static/roster.css");
const COPY_SCRIPT: &str = include_str!("../../static/copy.js");

/// The optional copy-to-clipboard button; pages work without it.
pub async fn copy_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(COPY_SCRIPT)
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(STYLESHEET)
}

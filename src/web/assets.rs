//! Static assets, compiled into the binary so a deployment is one file.

use actix_web::HttpResponse;

const STYLESHEET: &str = include_str!("../../static/roster.css");

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(STYLESHEET)
}

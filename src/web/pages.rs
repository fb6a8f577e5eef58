//! Rendering askama templates into responses, and the data every page layout needs.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use super::error::WebError;

/// What the base layout shows about the visitor.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Display name of the signed-in person, if any.
    pub user_name: Option<String>,
    /// Token for the sign-out form in the header (and any other form on the page).
    pub csrf_token: String,
}

pub fn render(template: &impl Template) -> Result<HttpResponse, WebError> {
    render_with_status(StatusCode::OK, template)
}

pub fn render_with_status(
    status: StatusCode,
    template: &impl Template,
) -> Result<HttpResponse, WebError> {
    let body = template.render()?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(body))
}

/// Field errors for a form: which field, what message. Rendered next to the field.
#[derive(Debug, Clone, Default)]
pub struct FormErrors(Vec<(&'static str, String)>);

impl FormErrors {
    pub fn add(&mut self, error: crate::domain::FieldError) {
        self.0.push((error.field, error.message));
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, message)| message.as_str())
    }
    pub fn all(&self) -> impl Iterator<Item = &(&'static str, String)> {
        self.0.iter()
    }
}

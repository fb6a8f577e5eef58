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

impl Layout {
    pub fn for_user(user: &crate::web::identity::SignedIn) -> Result<Self, WebError> {
        Ok(Self {
            user_name: Some(user.person.display_name()),
            csrf_token: crate::web::csrf::token(&user.session)?,
        })
    }
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

    /// Collects the error of a parse, returning its value when there was none.
    pub fn check<T>(&mut self, result: Result<T, crate::domain::FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.add(error);
                None
            }
        }
    }
}

/// Pagination: which page, of how many, for a list of `total` rows.
#[derive(Debug, Clone)]
pub struct Pager {
    pub page: i64,
    pub pages: i64,
    pub per_page: i64,
    pub total: i64,
    /// The list's address with its query, ready for `page=N` (`partials/pager.html`).
    pub base: String,
}

impl Pager {
    pub fn new(requested: Option<i64>, per_page: i64, total: i64) -> Self {
        let pages = ((total + per_page - 1) / per_page).max(1);
        let page = requested.unwrap_or(1).clamp(1, pages);
        Self {
            page,
            pages,
            per_page,
            total,
            base: "?".into(),
        }
    }

    /// Links to other pages go to `path?query&page=N` (`query` already encoded, or empty).
    pub fn linking_to(mut self, path: &str, query: &str) -> Self {
        self.base = if query.is_empty() {
            format!("{path}?")
        } else {
            format!("{path}?{query}&")
        };
        self
    }
    pub fn offset(&self) -> i64 {
        (self.page - 1) * self.per_page
    }
    pub fn has_previous(&self) -> bool {
        self.page > 1
    }
    pub fn has_next(&self) -> bool {
        self.page < self.pages
    }
    pub fn previous(&self) -> i64 {
        self.page - 1
    }
    pub fn next(&self) -> i64 {
        self.page + 1
    }
}

/// Percent-encodes a query-string value for links built in templates.
pub fn query_value(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|encoded| encoded.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

/// A new password typed twice (invitation acceptance, reset links).
#[derive(Debug, serde::Deserialize)]
pub struct NewPasswordForm {
    #[serde(default)]
    pub password: String,
    #[serde(default)]
    pub password_confirmation: String,
}

/// Something pages show as a day: a Unix time, or a stored `YYYY-MM-DD` date.
pub trait Dated {
    /// Its UTC day, `None` when it is not a date.
    fn day(&self) -> Option<time::Date>;
    /// For `<time datetime>`.
    fn machine_readable(&self) -> Option<String>;
}

impl Dated for i64 {
    fn day(&self) -> Option<time::Date> {
        crate::domain::day_of(*self)
    }
    fn machine_readable(&self) -> Option<String> {
        time::OffsetDateTime::from_unix_timestamp(*self)
            .ok()
            .and_then(|at| {
                at.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
    }
}

impl Dated for str {
    fn day(&self) -> Option<time::Date> {
        time::Date::parse(
            self,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .ok()
    }
    fn machine_readable(&self) -> Option<String> {
        self.day().map(|_| self.to_string())
    }
}

impl Dated for String {
    fn day(&self) -> Option<time::Date> {
        self.as_str().day()
    }
    fn machine_readable(&self) -> Option<String> {
        self.as_str().machine_readable()
    }
}

impl<T: Dated + ?Sized> Dated for &T {
    fn day(&self) -> Option<time::Date> {
        (**self).day()
    }
    fn machine_readable(&self) -> Option<String> {
        (**self).machine_readable()
    }
}

/// The day and how far it is from `now`, as one unbreakable element:
/// `<time class="date" datetime="…">2026-12-06 (in 6 days)</time>`; empty for no date.
pub fn relative_date_html(at: &(impl Dated + ?Sized), now: i64) -> String {
    let (Some(day), Some(machine), Some(today)) =
        (at.day(), at.machine_readable(), crate::domain::day_of(now))
    else {
        return String::new();
    };
    format!(
        "<time class=\"date\" datetime=\"{machine}\">{day} ({})</time>",
        crate::domain::relative_day(day, today)
    )
}

/// Filters the templates use; a module that derives a template imports `filters`.
pub mod filters {
    /// `{{ at|date_relative(now) }}`: a Unix time or a `YYYY-MM-DD` date as its day and its
    /// distance from `now` (the page's clock), "2026-12-06 (in 6 days)", in a `<time>`
    /// element that does not wrap. Only digits and fixed words, so it needs no escaping.
    #[askama::filter_fn]
    pub fn date_relative<T: super::Dated>(
        at: T,
        _: &dyn askama::Values,
        now: &i64,
    ) -> askama::Result<askama::filters::Safe<String>> {
        Ok(askama::filters::Safe(super::relative_date_html(&at, *now)))
    }

    /// `{{ at|date }}`: a Unix time as pages show times, `2026-11-29 14:05 UTC`.
    #[askama::filter_fn]
    pub fn date(at: &i64, _: &dyn askama::Values) -> askama::Result<String> {
        Ok(crate::usecases::invitations::format_date(*at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_040_000; // 2026-11-30 12:00 UTC

    #[test]
    fn relative_dates_read_from_the_clock() {
        assert_eq!(
            relative_date_html(&(NOW + 6 * 86_400), NOW),
            "<time class=\"date\" datetime=\"2026-12-06T12:00:00Z\">2026-12-06 (in 6 days)</time>"
        );
        assert_eq!(
            relative_date_html("2026-11-30", NOW),
            "<time class=\"date\" datetime=\"2026-11-30\">2026-11-30 (today)</time>"
        );
        assert_eq!(
            relative_date_html(&"2026-12-01".to_string(), NOW),
            "<time class=\"date\" datetime=\"2026-12-01\">2026-12-01 (tomorrow)</time>"
        );
        assert_eq!(
            relative_date_html(&(NOW - 6 * 86_400), NOW),
            "<time class=\"date\" datetime=\"2026-11-24T12:00:00Z\">2026-11-24 (6 days ago)</time>"
        );
    }

    #[test]
    fn no_date_shows_nothing() {
        assert_eq!(relative_date_html("", NOW), "");
        assert_eq!(relative_date_html("<b>soon</b>", NOW), "");
        assert_eq!(relative_date_html(&i64::MAX, NOW), "");
    }
}

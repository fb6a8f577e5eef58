//! Rendering askama templates into responses, and the data every page layout needs.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use super::error::WebError;
use crate::domain::Permission;

/// What the base layout shows about the visitor.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Display name of the signed-in person, if any.
    pub user_name: Option<String>,
    /// Token for the sign-out form in the header (and any other form on the page).
    pub csrf_token: String,
    /// The places the header links to: every page the person may open from anywhere.
    pub places: Vec<Place>,
}

/// A link in the header's navigation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub href: &'static str,
    pub label: &'static str,
    /// The page shown is this place (or one under it): marked `aria-current="page"`.
    pub current: bool,
}

/// The staff consoles, each behind the site-wide permission that opens it, as
/// (permission, address, label). The header and the home page both list them.
pub const STAFF_PLACES: [(Permission, &str, &str); 5] = [
    (Permission::ViewAccounts, "/admin/accounts", "Accounts"),
    (Permission::ManageStaff, "/admin/staff", "Staff roles"),
    (Permission::ManageJobs, "/admin/jobs", "Outbox"),
    (Permission::ManageJobs, "/admin/drift", "LDAP drift"),
    (Permission::ManageClients, "/admin/clients", "API clients"),
];

/// The consoles among [`STAFF_PLACES`] that `held` opens, as (address, label).
pub fn staff_places(held: &[Permission]) -> Vec<(&'static str, &'static str)> {
    STAFF_PLACES
        .into_iter()
        .filter(|(permission, _, _)| held.contains(permission))
        .map(|(_, href, label)| (href, label))
        .collect()
}

/// Everything a signed-in person may open from the header, the page at `path` marked.
fn places_for(held: &[Permission], path: &str) -> Vec<Place> {
    let everyone = [
        ("/", "Home"),
        ("/orgs", "Organisations"),
        ("/account", "Your account"),
        ("/account/keys", "SSH keys"),
    ];
    let links: Vec<(&'static str, &'static str)> =
        everyone.into_iter().chain(staff_places(held)).collect();
    // The SCIM comparisons are reached from the outbox, and belong to it.
    let path = if path.starts_with("/admin/scim/") {
        "/admin/jobs"
    } else {
        path
    };
    // The longest address that is the page or a folder above it is the current place.
    let current = links
        .iter()
        .map(|(href, _)| *href)
        .filter(|href| path == *href || (*href != "/" && path.starts_with(&format!("{href}/"))))
        .max_by_key(|href| href.len());
    links
        .into_iter()
        .map(|(href, label)| Place {
            href,
            label,
            current: Some(href) == current,
        })
        .collect()
}

impl Layout {
    pub fn for_user(user: &crate::web::identity::SignedIn) -> Result<Self, WebError> {
        Ok(Self {
            user_name: Some(user.person.display_name()),
            csrf_token: crate::web::csrf::token(&user.session)?,
            places: places_for(&user.site_permissions, &user.path),
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

    fn current(held: &[Permission], path: &str) -> Vec<&'static str> {
        places_for(held, path)
            .into_iter()
            .filter(|place| place.current)
            .map(|place| place.label)
            .collect()
    }

    #[test]
    fn the_header_marks_the_place_the_page_belongs_to() {
        let admin = [Permission::ViewAccounts, Permission::ManageJobs];
        assert_eq!(current(&admin, "/"), ["Home"]);
        assert_eq!(current(&admin, "/account/keys"), ["SSH keys"]);
        assert_eq!(current(&admin, "/account/setup"), ["Your account"]);
        assert_eq!(current(&admin, "/orgs/abc/members"), ["Organisations"]);
        assert_eq!(current(&admin, "/admin/accounts/p1"), ["Accounts"]);
        assert_eq!(current(&admin, "/admin/scim/hr"), ["Outbox"]);
        assert!(current(&admin, "/sign-in").is_empty());
        assert!(
            current(&[], "/admin/jobs").is_empty(),
            "no console without its permission"
        );
    }

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

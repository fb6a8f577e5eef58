//! The OpenAPI 3.1 document, generated from the handlers' annotations and types so that
//! it cannot drift from them.

use actix_web::HttpResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Roster automation API",
        description = "Service clients get tokens at /oauth/token (OAuth 2.0 client credentials) and call these routes with `Authorization: Bearer`. See docs/api.md."
    ),
    paths(
        super::orgs::list,
        super::orgs::show,
        super::orgs::update,
        super::members::list,
        super::members::change,
        super::invitations::list,
        super::invitation_batch::create,
        super::invitations::resend,
        super::invitations::withdraw,
        super::resources::list,
        super::resources::create,
        super::resources::show,
        super::resources::update,
        super::resource_access::put_access_list,
        super::resource_access::check_access,
        super::directory::people,
        super::directory::roles,
    ),
    modifiers(&BearerScheme)
)]
pub struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(ApiDoc::openapi().to_json().unwrap_or_else(|_| "{}".into()))
}

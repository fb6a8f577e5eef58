//! Driving the automation API as a script would: service clients, tokens from
//! `/oauth/token`, and JSON requests with Bearer tokens (and no cookies).

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::app::TestApp;
use roster::store::organisations::Organisation;

/// A client's credentials, as `roster client create` prints them.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub id: String,
    pub secret: String,
}

/// An HTTP client without a cookie store, as scripts are.
pub fn script_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .expect("http client")
}

impl TestApp {
    /// Creates a client through the same use case as `roster client create`.
    pub async fn api_client(
        &self,
        organisation: Option<&Organisation>,
        scopes: &[&str],
    ) -> Credentials {
        self.api_client_named(organisation, "provisioning", scopes)
            .await
    }

    pub async fn api_client_named(
        &self,
        organisation: Option<&Organisation>,
        name: &str,
        scopes: &[&str],
    ) -> Credentials {
        use roster::domain::{AllowedNetworks, ClientName, Scopes};
        use roster::usecases::clients::{ClientCreator, ClientRequest, create_client};
        let created = create_client(
            &self.context,
            ClientCreator::CommandLine,
            ClientRequest {
                organisation,
                name: ClientName::parse(name).unwrap(),
                scopes: Scopes::from_names(scopes.iter().copied()).unwrap(),
                networks: AllowedNetworks::default(),
                expires_at: None,
            },
        )
        .await
        .expect("client created");
        Credentials {
            id: created.id,
            secret: created.secret.expose().to_string(),
        }
    }

    /// Asks the token endpoint for a token with HTTP Basic; panics unless it answers 200.
    pub async fn token_for(&self, credentials: &Credentials) -> String {
        let response = request_token(&self.address, credentials, None).await;
        assert_eq!(response.status(), StatusCode::OK, "token endpoint");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }

    /// A client for `organisation` with `scopes`, and a token for it.
    pub async fn api_token(&self, organisation: Option<&Organisation>, scopes: &[&str]) -> String {
        let credentials = self.api_client(organisation, scopes).await;
        self.token_for(&credentials).await
    }

    /// A request to the API with `token` (none when empty) and an optional JSON body.
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        api_request(&self.address, method, path, token, body, &[]).await
    }

    pub async fn api_get(&self, path: &str, token: &str) -> reqwest::Response {
        self.api(Method::GET, path, token, None).await
    }
}

/// `POST /oauth/token` with client credentials by HTTP Basic, and an optional scope.
pub async fn request_token(
    base: &str,
    credentials: &Credentials,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    script_http()
        .post(format!("{base}/oauth/token"))
        .basic_auth(&credentials.id, Some(&credentials.secret))
        .form(&form)
        .send()
        .await
        .expect("token request")
}

pub async fn api_request(
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = script_http().request(method, format!("{base}{path}"));
    if !token.is_empty() {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("API request")
}

/// The header's value as text ("" when absent).
pub fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Adds people to slapd as an existing site's directory holds them: inetOrgPerson with a
/// uid and mail, and no account in the portal.
pub async fn add_directory_people(app: &TestApp, uids: &[String]) {
    let mut ldap = app.slapd.admin_conn().await;
    for uid in uids {
        let dn = app.slapd.person_dn(uid);
        let mail = format!("{uid}@example.org");
        let surname = format!("Surname{uid}");
        let result = ldap
            .add(
                &dn,
                vec![
                    ("objectClass", ["inetOrgPerson"].into_iter().collect()),
                    ("uid", [uid.as_str()].into_iter().collect()),
                    ("cn", [uid.as_str()].into_iter().collect()),
                    ("sn", [surname.as_str()].into_iter().collect()),
                    ("mail", [mail.as_str()].into_iter().collect()),
                ],
            )
            .await
            .expect("LDAP add");
        assert_eq!(result.rc, 0, "adding {dn}: {result:?}");
    }
    ldap.unbind().await.ok();
}

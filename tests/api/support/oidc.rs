//! A real OpenID Connect provider per test: panva's `oidc-provider` on Node.js
//! (`tests/oidc/provider.mjs`), with a test-only control API that sets who signs in next,
//! makes the next interaction deny, or re-signs ID tokens for another audience.
//!
//! Needs `npm ci --prefix tests/oidc` (scripts/test does it).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub const CLIENT_ID: &str = "roster";
pub const CLIENT_SECRET: &str = "roster-test-secret";

/// A running provider. Killed when dropped.
pub struct OidcProvider {
    pub issuer: String,
    child: Child,
    http: reqwest::Client,
}

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

impl OidcProvider {
    /// Starts the provider for a client whose redirect URI is `redirect_uri`.
    pub fn start(redirect_uri: &str) -> OidcProvider {
        let dir = provider_dir();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "tests/oidc/node_modules is missing: run `npm ci --prefix tests/oidc` (scripts/test does)"
        );
        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .env("OIDC_PORT", "0")
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_REDIRECT_URI", redirect_uri)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node tests/oidc/provider.mjs");
        let stdout = child.stdout.take().expect("provider stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the provider's READY line");
        let issuer = line
            .trim()
            .strip_prefix("READY ")
            .unwrap_or_else(|| panic!("the provider did not start: {line:?}"))
            .to_string();
        OidcProvider {
            issuer,
            child,
            http: reqwest::Client::new(),
        }
    }

    async fn control(&self, path: &str, body: serde_json::Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.issuer))
            .json(&body)
            .send()
            .await
            .expect("provider control request");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }

    /// The identity the next sign-in at the provider will be.
    pub async fn next_sign_in(&self, subject: &str, email: &str, email_verified: bool) {
        self.control(
            "/__test/next",
            serde_json::json!({
                "sub": subject, "email": email, "email_verified": email_verified,
                "name": "Test Person", "deny": false,
            }),
        )
        .await;
    }

    /// The next sign-in is refused at the provider (the person does not consent).
    pub async fn deny_next(&self) {
        self.control(
            "/__test/next",
            serde_json::json!({"sub": "nobody", "email": "nobody@example.org", "deny": true}),
        )
        .await;
    }

    /// While set, ID tokens are validly signed but issued for another audience.
    pub async fn id_token_audience(&self, audience: Option<&str>) {
        self.control(
            "/__test/id-token-audience",
            serde_json::json!({ "aud": audience }),
        )
        .await;
    }

    /// Kills the provider now (a provider outage).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.stop();
    }
}

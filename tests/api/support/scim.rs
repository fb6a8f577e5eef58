//! A real SCIM 2.0 server per test: the `scim2-server` command (PyPI `scim2-server`,
//! resources in memory), behind a fault-injecting reverse proxy (`tests/scim/proxy.py`)
//! that records every request and can answer 429, 503 or hang instead.
//!
//! ```ignore
//! let scim = ScimServer::start();
//! // configure the app with scim.base_url() and scim.token_file()
//! scim.set_mode(ProxyMode::TooManyRequests { retry_after_seconds: 60 }).await;
//! let users = scim.users().await;            // straight from the server, not recorded
//! let seen = scim.requests().await;          // what reached the proxy
//! ```
//!
//! The server serves `/Users`, `/Groups`, `/Bulk`, `/ServiceProviderConfig` at the root
//! (and under `/v2`) and only accepts `Authorization: Bearer <token>`. Run behind the
//! proxy with `--reverse-proxy`, it builds its `Location` and `meta.location` URLs on the
//! proxy's address (under `/v2`).
//!
//! The Python interpreter is `$ROSTER_TEST_PYTHON`, else `python3`.

use super::{free_port, port_accepts};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

/// Runs `scim2-server`'s command line in-process (its console script calls
/// `scim2_server.testserver.cli:main`), plus a thread that exits the server when its
/// parent (the test process) is gone, so a killed test run leaves no server behind.
const LAUNCHER: &str = r#"
import os, sys, threading, time
parent = os.getppid()
def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
from scim2_server.testserver.cli import main
sys.argv = ["scim2-server"] + sys.argv[1:]
sys.exit(main())
"#;

/// What the server prints once it has bound its port.
const SERVER_READY: &str = "Serving SCIM on";
/// What the proxy prints once it has bound its port.
const PROXY_READY: &str = "Proxy listening on";

/// How the proxy answers the requests it gets (not its control endpoints).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyMode {
    /// Forward to the server.
    Pass,
    /// 429 with `Retry-After: <retry_after_seconds>` and a SCIM error, not forwarded.
    TooManyRequests { retry_after_seconds: u64 },
    /// 503 with a SCIM error, not forwarded.
    Unavailable,
    /// Read the request, wait `seconds` (or until the mode is set again), answer 503.
    Hang { seconds: u64 },
}

/// One request the proxy got, in order of arrival.
#[derive(Clone, Debug, PartialEq)]
pub struct ProxiedRequest {
    /// When it arrived, Unix seconds.
    pub at: f64,
    pub method: String,
    /// Path and query string, as sent (percent-encoded), e.g. `/Users?startIndex=1`.
    pub path: String,
    /// The status answered; 0 for a request answered in hang mode.
    pub status: u16,
}

/// A running `scim2-server` and its proxy. Both killed when dropped.
pub struct ScimServer {
    dir: TempDir,
    token: String,
    server_port: u16,
    proxy_port: u16,
    server: Child,
    proxy: Child,
    http: reqwest::Client,
}

impl ScimServer {
    /// Starts the server and the proxy on free ports, with a random bearer token
    /// (also written to [`ScimServer::token_file`]), and waits until both accept
    /// connections.
    pub fn start() -> ScimServer {
        let dir = tempfile::Builder::new()
            .prefix("roster-scim-")
            .tempdir()
            .expect("create a temporary directory for the SCIM server");
        let token = format!("scim-{}", uuid::Uuid::new_v4().simple());
        let token_file = dir.path().join("bearer-token");
        std::fs::write(&token_file, &token)
            .unwrap_or_else(|error| panic!("write {}: {error}", token_file.display()));

        let (mut server, server_port) = retry_on_free_ports("scim2-server", |port| {
            spawn_server(dir.path(), port, &token)
        })
        .unwrap_or_else(|error| panic!("{error}"));
        let (proxy, proxy_port) = retry_on_free_ports("the SCIM proxy", |port| {
            spawn_proxy(dir.path(), port, server_port)
        })
        .unwrap_or_else(|error| {
            let _ = server.kill();
            let _ = server.wait();
            panic!("{error}")
        });
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        ScimServer {
            dir,
            token,
            server_port,
            proxy_port,
            server,
            proxy,
            http,
        }
    }

    /// The proxy's URL, `http://127.0.0.1:PORT`: what Roster is configured with.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.proxy_port)
    }

    /// The server's own URL, bypassing the proxy.
    pub fn server_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.server_port)
    }

    /// A file holding the bearer token (no newline).
    pub fn token_file(&self) -> PathBuf {
        self.dir.path().join("bearer-token")
    }

    /// The bearer token the server accepts.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The server's and the proxy's output so far (for failure messages).
    pub fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!(
            "--- scim2-server ---\n{}\n--- proxy ---\n{}",
            read("scim2-server.log"),
            read("proxy.log")
        )
    }

    /// Sets how the proxy answers from now on; requests hanging in
    /// [`ProxyMode::Hang`] are then answered (503) at once.
    pub async fn set_mode(&self, mode: ProxyMode) {
        let body = match mode {
            ProxyMode::Pass => json!({"mode": "pass"}),
            ProxyMode::TooManyRequests {
                retry_after_seconds,
            } => json!({"mode": "429", "retry_after": retry_after_seconds}),
            ProxyMode::Unavailable => json!({"mode": "503"}),
            ProxyMode::Hang { seconds } => json!({"mode": "hang", "seconds": seconds}),
        };
        let response = self
            .http
            .post(format!("{}/_proxy/mode", self.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|error| panic!("set the SCIM proxy's mode: {error}"));
        assert!(
            response.status().is_success(),
            "set the SCIM proxy's mode to {mode:?}: {}",
            response.status()
        );
    }

    /// The requests the proxy got so far (not the control requests), oldest first.
    pub async fn requests(&self) -> Vec<ProxiedRequest> {
        let response = self
            .http
            .get(format!("{}/_proxy/requests", self.base_url()))
            .send()
            .await
            .unwrap_or_else(|error| panic!("read the SCIM proxy's requests: {error}"));
        assert!(
            response.status().is_success(),
            "read the SCIM proxy's requests: {}",
            response.status()
        );
        let list: Vec<Value> = response
            .json()
            .await
            .expect("the SCIM proxy's requests are a JSON list");
        list.into_iter()
            .map(|entry| ProxiedRequest {
                at: entry["at"].as_f64().expect("a recorded request's time"),
                method: entry["method"].as_str().unwrap_or_default().to_owned(),
                path: entry["path"].as_str().unwrap_or_default().to_owned(),
                status: entry["status"]
                    .as_u64()
                    .and_then(|status| u16::try_from(status).ok())
                    .expect("a recorded request's status"),
            })
            .collect()
    }

    /// Forgets the requests recorded so far.
    pub async fn clear_requests(&self) {
        let response = self
            .http
            .delete(format!("{}/_proxy/requests", self.base_url()))
            .send()
            .await
            .unwrap_or_else(|error| panic!("clear the SCIM proxy's requests: {error}"));
        assert!(
            response.status().is_success(),
            "clear the SCIM proxy's requests: {}",
            response.status()
        );
    }

    /// Every User on the server (directly, not through the proxy).
    pub async fn users(&self) -> Vec<Value> {
        self.all("/Users").await
    }

    /// Every Group on the server (directly, not through the proxy).
    pub async fn groups(&self) -> Vec<Value> {
        self.all("/Groups").await
    }

    /// The User whose `userName` is `user_name` (the server compares case-insensitively).
    pub async fn user_named(&self, user_name: &str) -> Option<Value> {
        self.one("/Users", "userName", user_name).await
    }

    /// The Group whose `displayName` is `display_name`.
    pub async fn group_named(&self, display_name: &str) -> Option<Value> {
        self.one("/Groups", "displayName", display_name).await
    }

    /// A request straight to the server with the bearer token (an out-of-band change,
    /// not recorded by the proxy): `path` like `/Users/ID`, the body sent as
    /// `application/scim+json`. Returns the status and the JSON body (`Null` when empty,
    /// a string when not JSON).
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.server_url());
        let mut builder = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(&self.token)
            .header(reqwest::header::ACCEPT, "application/scim+json");
        if let Some(body) = body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/scim+json")
                .body(body.to_string());
        }
        let response = builder
            .send()
            .await
            .unwrap_or_else(|error| panic!("{method} {url}: {error}\n{}", self.logs()));
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .unwrap_or_else(|error| panic!("{method} {url}: read the body: {error}"));
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// Every resource of an endpoint, a page of 100 at a time.
    async fn all(&self, endpoint: &str) -> Vec<Value> {
        let mut resources = Vec::new();
        loop {
            let path = format!("{endpoint}?startIndex={}&count=100", resources.len() + 1);
            let page = self.list(&path).await;
            let total = page["totalResults"]
                .as_u64()
                .unwrap_or_else(|| panic!("GET {path}: no totalResults in {page}"));
            let batch = page["Resources"].as_array().cloned().unwrap_or_default();
            let empty = batch.is_empty();
            resources.extend(batch);
            if resources.len() as u64 >= total || empty {
                return resources;
            }
        }
    }

    /// The only resource whose `attribute` equals `value`, if any.
    async fn one(&self, endpoint: &str, attribute: &str, value: &str) -> Option<Value> {
        // A SCIM filter's string is a JSON string.
        let filter = format!("{attribute} eq {}", Value::String(value.to_owned()));
        let query: String = url_encode(&filter);
        let path = format!("{endpoint}?filter={query}");
        let page = self.list(&path).await;
        let mut found = page["Resources"].as_array().cloned().unwrap_or_default();
        assert!(
            found.len() <= 1,
            "{attribute} eq {value:?}: {} resources on the server",
            found.len()
        );
        found.pop()
    }

    /// GET of a list endpoint; panics unless it answers 200.
    async fn list(&self, path: &str) -> Value {
        let (status, page) = self.request(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path} on the SCIM server: {page}");
        page
    }
}

impl Drop for ScimServer {
    fn drop(&mut self) {
        for child in [&mut self.proxy, &mut self.server] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// Runs `spawn` on a fresh free port until it succeeds (another process may take the
/// port between finding and binding it), at most 5 times.
fn retry_on_free_ports(
    what: &str,
    mut spawn: impl FnMut(u16) -> Result<Child, String>,
) -> Result<(Child, u16), String> {
    let mut last_error = String::new();
    for _attempt in 0..5 {
        let port = free_port();
        match spawn(port) {
            Ok(child) => return Ok((child, port)),
            Err(error) => last_error = error,
        }
    }
    Err(format!(
        "could not start {what} after 5 attempts; last error:\n{last_error}"
    ))
}

fn python() -> String {
    std::env::var("ROSTER_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn spawn_server(dir: &Path, port: u16, token: &str) -> Result<Child, String> {
    let python = python();
    let log_path = dir.join("scim2-server.log");
    let mut command = Command::new(&python);
    command
        .arg("-c")
        .arg(LAUNCHER)
        .args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
        .args(["--bearer-token", token])
        // Location and meta.location on the proxy's address (X-Forwarded-Host).
        .arg("--reverse-proxy");
    let child = spawn_logged(&mut command, &log_path).unwrap_or_else(|error| {
        panic!(
            "run {python} (is python3 with scim2-server installed? \
             pip install scim2-server==0.8.3): {error}"
        )
    });
    wait_until_ready(child, "scim2-server", port, &log_path, SERVER_READY)
}

fn spawn_proxy(dir: &Path, port: u16, upstream_port: u16) -> Result<Child, String> {
    let python = python();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scim/proxy.py");
    let log_path = dir.join("proxy.log");
    let mut command = Command::new(&python);
    command
        .arg(&script)
        .args(["--port", &port.to_string()])
        .arg("--upstream")
        .arg(format!("http://127.0.0.1:{upstream_port}"));
    let child = spawn_logged(&mut command, &log_path)
        .unwrap_or_else(|error| panic!("run {python} {}: {error}", script.display()));
    wait_until_ready(child, "the SCIM proxy", port, &log_path, PROXY_READY)
}

/// Spawns with stdout and stderr appended to `log_path`.
fn spawn_logged(command: &mut Command, log_path: &Path) -> std::io::Result<Child> {
    let log = std::fs::File::create(log_path)?;
    let log_err = log.try_clone()?;
    command
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
}

/// Waits until the child has said it bound `port` (another process that took the port
/// first would accept connections too, so a connection alone proves nothing) and the
/// port accepts connections. On failure, the child is killed and its output returned.
fn wait_until_ready(
    mut child: Child,
    what: &str,
    port: u16,
    log_path: &Path,
    ready: &str,
) -> Result<Child, String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            return Err(format!("{what} exited with {status}:\n{log}"));
        }
        let bound = std::fs::read_to_string(log_path).is_ok_and(|log| log.contains(ready));
        if bound && port_accepts(port) {
            return Ok(child);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            return Err(format!(
                "{what} did not accept connections on port {port}:\n{log}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

//! A private OpenLDAP `slapd` per test, started by `scripts/ldap/start-slapd`
//! (the same script the demo uses) on a free loopback port in a temporary directory.
//!
//! ```ignore
//! let ldap = Slapd::start();                       // seeded with the sample people
//! let entry = ldap.search_entry("uid=amueller,ou=people,dc=example,dc=org").await;
//! assert!(ldap.can_bind(&dn, "secret").await);
//! ```
//!
//! Suffix `dc=example,dc=org`, admin `cn=admin,dc=example,dc=org` / `admin-secret`.
//! Every sample person's password is `sample-password` (see `scripts/ldap/gen-sample-people`).

use super::{free_port, port_accepts};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ldap3::{Ldap, LdapConnAsync, LdapError, Scope, SearchEntry};
use tempfile::TempDir;

const BASE_DN: &str = "dc=example,dc=org";
const PEOPLE_DN: &str = "ou=people,dc=example,dc=org";
const GROUPS_DN: &str = "ou=groups,dc=example,dc=org";
const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
const ADMIN_PASSWORD: &str = "admin-secret";
/// Password of every person in `sample-people.ldif`.
pub const SAMPLE_PASSWORD: &str = "sample-password";
/// Number of people in `sample-people.ldif` (uidNumber 20000..=20049).
pub const SAMPLE_PEOPLE: usize = 50;

/// A running private slapd. Killed when dropped; its data directory is then removed.
pub struct Slapd {
    dir: TempDir,
    port: u16,
    pid: Option<u32>,
    /// Environment of the start script, kept for [`Slapd::start_again`] (replication).
    env: Vec<(String, String)>,
}

impl Slapd {
    /// Starts a slapd seeded with the base entries and the sample people and groups.
    pub fn start() -> Slapd {
        Self::start_with(&[scripts_dir().join("sample-people.ldif")])
    }

    /// Starts a slapd holding only the base entries (suffix, ou=people, ou=groups).
    pub fn start_empty() -> Slapd {
        Self::start_with(&[])
    }

    /// Starts a slapd seeded with the given LDIF files (after the base entries).
    pub fn start_with(seeds: &[PathBuf]) -> Slapd {
        let mut last_error = String::new();
        for _attempt in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("roster-slapd-")
                .tempdir()
                .expect("create a temporary directory for slapd");
            let port = free_port();
            match run_start_script(dir.path(), port, seeds, &[]) {
                Ok(pid) => {
                    return Slapd {
                        dir,
                        port,
                        pid: Some(pid),
                        env: Vec::new(),
                    };
                }
                // Most likely another process took the port in the meantime: retry.
                Err(error) => last_error = error,
            }
        }
        panic!("could not start slapd after 5 attempts; last error:\n{last_error}");
    }

    /// Two slapds replicating each other (multi-provider, syncrepl in both directions),
    /// both holding the sample people: a write to either reaches the other, and one
    /// stopped and started again catches up.
    pub fn start_mirrored_pair() -> (Slapd, Slapd) {
        let first_port = free_port();
        let second_port = loop {
            let port = free_port();
            if port != first_port {
                break port;
            }
        };
        let mirror_env = |id: u16, peer: u16| {
            vec![
                ("SLAPD_SERVER_ID".to_string(), id.to_string()),
                (
                    "SLAPD_MIRROR_OF".to_string(),
                    format!("ldap://127.0.0.1:{peer}/"),
                ),
            ]
        };
        let start =
            |port: u16, env: Vec<(String, String)>, seeds: &[PathBuf], from: Option<&Path>| {
                let dir = tempfile::Builder::new()
                    .prefix("roster-slapd-")
                    .tempdir()
                    .expect("create a temporary directory for slapd");
                // The second starts from a copy of the first's database, so both hold the
                // same entries with the same entryUUIDs and replication has nothing to merge.
                if let Some(from) = from {
                    std::fs::create_dir_all(dir.path().join("data")).expect("data directory");
                    std::fs::copy(from.join("data/data.mdb"), dir.path().join("data/data.mdb"))
                        .expect("copy the first slapd's database");
                }
                let pid = run_start_script(dir.path(), port, seeds, &env)
                    .unwrap_or_else(|error| panic!("start a mirrored slapd: {error}"));
                Slapd {
                    dir,
                    port,
                    pid: Some(pid),
                    env,
                }
            };
        let first = start(
            first_port,
            mirror_env(1, second_port),
            &[scripts_dir().join("sample-people.ldif")],
            None,
        );
        let second = start(
            second_port,
            mirror_env(2, first_port),
            &[],
            Some(first.dir()),
        );
        (first, second)
    }

    /// `ldap://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `dc=example,dc=org`
    pub fn base_dn(&self) -> &'static str {
        BASE_DN
    }

    /// `ou=people,dc=example,dc=org`
    pub fn people_dn(&self) -> &'static str {
        PEOPLE_DN
    }

    /// `ou=groups,dc=example,dc=org`
    pub fn groups_dn(&self) -> &'static str {
        GROUPS_DN
    }

    /// `cn=admin,dc=example,dc=org`
    pub fn admin_dn(&self) -> &'static str {
        ADMIN_DN
    }

    pub fn admin_password(&self) -> &'static str {
        ADMIN_PASSWORD
    }

    /// DN of a person under `ou=people`: `uid=UID,ou=people,dc=example,dc=org`.
    pub fn person_dn(&self, uid: &str) -> String {
        format!("uid={uid},{PEOPLE_DN}")
    }

    /// The state directory (slapd.conf, data/, slapd.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// slapd's log (`-d 0`: normally empty unless something went wrong).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }

    pub fn is_running(&self) -> bool {
        self.pid.is_some_and(is_our_slapd)
    }

    /// Stops slapd (SIGTERM, SIGKILL after 5 s) and waits until the port refuses
    /// connections and the process is gone. The data is kept for [`Slapd::start_again`].
    pub fn stop(&mut self) {
        let Some(pid) = self.pid.take() else {
            return;
        };
        if is_our_slapd(pid) {
            signal(pid, "TERM");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while (is_our_slapd(pid) || port_accepts(self.port)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if is_our_slapd(pid) {
            signal(pid, "KILL");
            let deadline = Instant::now() + Duration::from_secs(5);
            while is_our_slapd(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        assert!(
            !port_accepts(self.port),
            "slapd on port {} still accepts connections after stop()",
            self.port
        );
    }

    /// Freezes slapd (SIGSTOP): connections stay open but nothing answers, as when a
    /// server hangs under a request.
    pub fn pause(&self) {
        if let Some(pid) = self.pid {
            signal(pid, "STOP");
        }
    }

    /// Lets a paused slapd run again (SIGCONT).
    pub fn resume(&self) {
        if let Some(pid) = self.pid {
            signal(pid, "CONT");
        }
    }

    /// Starts slapd again on the same port with the same data (after [`Slapd::stop`]).
    pub fn start_again(&mut self) {
        if self.is_running() {
            return;
        }
        let mut last_error = String::new();
        // The port was ours a moment ago; retry briefly in case it lingers.
        for _attempt in 0..20 {
            match run_start_script(self.dir.path(), self.port, &[], &self.env) {
                Ok(pid) => {
                    self.pid = Some(pid);
                    return;
                }
                Err(error) => last_error = error,
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "could not start slapd again on port {}:\n{last_error}",
            self.port
        );
    }

    /// A new connection bound as the directory admin (rootdn).
    pub async fn admin_conn(&self) -> Ldap {
        let mut ldap = self.connect().await;
        ldap.simple_bind(ADMIN_DN, ADMIN_PASSWORD)
            .await
            .and_then(|result| result.success())
            .unwrap_or_else(|error| panic!("admin bind to {} failed: {error}", self.url()));
        ldap
    }

    /// A new anonymous (unbound) connection.
    pub async fn connect(&self) -> Ldap {
        let url = self.url();
        let (conn, ldap) = LdapConnAsync::new(&url)
            .await
            .unwrap_or_else(|error| panic!("connect to {url}: {error}"));
        ldap3::drive!(conn);
        ldap
    }

    /// Reads one entry (all user attributes, as admin so userPassword is included).
    /// `None` if it does not exist.
    pub async fn search_entry(&self, dn: &str) -> Option<SearchEntry> {
        let mut ldap = self.admin_conn().await;
        let result = ldap
            .search(dn, Scope::Base, "(objectClass=*)", vec!["*"])
            .await
            .and_then(|result| result.success());
        let _ = ldap.unbind().await;
        match result {
            Ok((entries, _)) => entries.into_iter().next().map(SearchEntry::construct),
            Err(LdapError::LdapResult { result }) if result.rc == 32 => None,
            Err(error) => panic!("LDAP search for {dn} failed: {error}"),
        }
    }

    /// Subtree search as admin; entries in server order.
    pub async fn search(&self, base: &str, filter: &str) -> Vec<SearchEntry> {
        let mut ldap = self.admin_conn().await;
        let result = ldap
            .search(base, Scope::Subtree, filter, vec!["*"])
            .await
            .and_then(|result| result.success());
        let _ = ldap.unbind().await;
        match result {
            Ok((entries, _)) => entries.into_iter().map(SearchEntry::construct).collect(),
            Err(LdapError::LdapResult { result }) if result.rc == 32 => Vec::new(),
            Err(error) => panic!("LDAP search under {base} for {filter} failed: {error}"),
        }
    }

    /// Whether a simple bind with this DN and password succeeds.
    /// An empty password is always `false` (it would be an unauthenticated bind).
    pub async fn can_bind(&self, dn: &str, password: &str) -> bool {
        if password.is_empty() {
            return false;
        }
        let mut ldap = self.connect().await;
        let ok = matches!(ldap.simple_bind(dn, password).await, Ok(result) if result.rc == 0);
        let _ = ldap.unbind().await;
        ok
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take()
            && is_our_slapd(pid)
        {
            // The data goes away with the TempDir, so no graceful shutdown is needed.
            signal(pid, "KILL");
        }
    }
}

/// `scripts/ldap` of this crate.
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/ldap")
}

/// Runs `start-slapd DIR PORT SEEDS...`; returns slapd's pid, or the script's output.
fn run_start_script(
    dir: &Path,
    port: u16,
    seeds: &[PathBuf],
    env: &[(String, String)],
) -> Result<u32, String> {
    let script = scripts_dir().join("start-slapd");
    let output = Command::new(&script)
        .envs(env.iter().map(|(name, value)| (name, value)))
        .arg(dir)
        .arg(port.to_string())
        .args(seeds)
        .env("LDAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        // If this test process dies without running Drop, slapd stops by itself.
        .env("SLAPD_WATCH_PID", std::process::id().to_string())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("run {}: {error}", script.display()));
    let text = format!(
        "{} exited with {}\nstdout:\n{}\nstderr:\n{}",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        return Err(text);
    }
    std::fs::read_to_string(dir.join("slapd.pid"))
        .ok()
        .and_then(|pid| pid.trim().parse().ok())
        .ok_or_else(|| format!("no slapd.pid after start\n{text}"))
}

/// Whether `pid` is alive (not a zombie) and is a slapd.
fn is_our_slapd(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name: "PID (comm) S ...".
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    if matches!(state, Some("Z") | Some("X") | None) {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| String::from_utf8_lossy(&cmdline).contains("slapd"))
        .unwrap_or(false)
}

fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(std::process::Stdio::null())
        .status();
}

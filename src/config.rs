//! Typed settings: a TOML file overlaid by `ROSTER_<SECTION>__<KEY>` environment variables.
//!
//! Unknown keys are refused so a typo never silently falls back to a default. Secrets are
//! wrapped in [`Secret`], whose `Debug` never prints the value, and each may instead be read
//! from a file named by the matching `*_file` key.

use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration file {path}: {message}")]
    File { path: PathBuf, message: String },
}

/// A secret value. Its `Debug` and `Display` are redacted so it cannot reach a log line.
#[derive(Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub database: DatabaseSettings,
    pub ldap: LdapSettings,
    pub mail: MailSettings,
    #[serde(default)]
    pub security: SecuritySettings,
    #[serde(default)]
    pub lifecycle: LifecycleSettings,
    #[serde(default)]
    pub api: ApiSettings,
    #[serde(default)]
    pub resources: ResourceSettings,
    /// Single sign-on through an OpenID Connect provider; absent means passwords only.
    #[serde(default)]
    pub oidc: Option<OidcSettings>,
    /// Other systems kept in step with the portal besides LDAP (SCIM 2.0 targets).
    #[serde(default)]
    pub provisioning: ProvisioningSettings,
    /// The site-wide LDAP drift report: its scheduled dry run and its repair's threshold.
    #[serde(default)]
    pub reconcile: ReconcileSettings,
    /// How log lines are written (`ROSTER_LOG` sets which).
    #[serde(default)]
    pub log: LogSettings,
    /// Prometheus metrics (`GET /metrics`).
    #[serde(default)]
    pub metrics: MetricsSettings,
}

/// The log's line format: `text` for people, `json` (one object per line) for collectors.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Prometheus metrics: on the main port behind a bearer token (`token_file`), on a
/// loopback listener of their own without one (`listen`), or both. Neither: no metrics.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// The bearer token scrapers send to `/metrics` on the main port, read from
    /// `token_file`; at least 32 characters.
    pub token: Secret,
    pub token_file: Option<PathBuf>,
    /// A loopback address (e.g. `127.0.0.1:9464`) serving only `/metrics`, without a token.
    pub listen: Option<String>,
}

/// The shortest metrics token accepted.
const MIN_METRICS_TOKEN: usize = 32;

/// The LDAP drift report (`/admin/drift`, `roster reconcile`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileSettings {
    /// Minutes between two scheduled dry runs (counts in the log, a mail to site admins
    /// when the count changes); 0 turns them off.
    pub interval_minutes: u32,
    /// "Repair all" is refused when it would touch more than this share (in percent) of
    /// the entries under Roster's bases.
    pub max_change_percent: u32,
}

impl Default for ReconcileSettings {
    fn default() -> Self {
        Self {
            interval_minutes: 0,
            max_change_percent: 10,
        }
    }
}

/// Identity providers and other systems the portal pushes people and groups to.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProvisioningSettings {
    /// Minutes between two scheduled dry-run reconciliations of every SCIM target (counts
    /// in the log, a mail to site admins when the report changes); 0 turns them off.
    pub reconcile_minutes: u32,
    /// SCIM 2.0 service providers (`[[provisioning.scim]]`).
    pub scim: Vec<ScimTargetSettings>,
}

impl Default for ProvisioningSettings {
    fn default() -> Self {
        Self {
            reconcile_minutes: 60,
            scim: Vec::new(),
        }
    }
}

/// One SCIM 2.0 service provider that Users and Groups are pushed to (RFC 7644).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScimTargetSettings {
    /// The target's name in the outbox, the admin pages and `roster scim` (letters,
    /// digits and `-`). Renaming it makes a new target, which pushes everything again.
    pub name: String,
    /// The SCIM base URL, e.g. `https://example.okta.com/scim/v2`; `/Users` is appended.
    pub base_url: String,
    #[serde(default)]
    pub bearer_token: Secret,
    pub bearer_token_file: Option<PathBuf>,
    /// Requests per minute to this target, across every instance (1..=60000).
    #[serde(default = "default_scim_rate")]
    pub rate_per_minute: u32,
    /// Operations in one Bulk request, when the target says it supports Bulk (1..=1000).
    #[serde(default = "default_scim_batch")]
    pub max_batch: u32,
    /// Seconds to wait for one answer before treating the target as unreachable.
    #[serde(default = "default_scim_timeout")]
    pub timeout_seconds: u64,
    /// Push accounts as Users.
    #[serde(default = "yes")]
    pub users: bool,
    /// Push organisations and resource access groups as Groups.
    #[serde(default = "yes")]
    pub groups: bool,
    /// Put each person's permissions on their User as `entitlements` (`<org>:<permission>`).
    #[serde(default = "yes")]
    pub permissions: bool,
}

fn default_scim_rate() -> u32 {
    300
}

fn default_scim_batch() -> u32 {
    100
}

fn default_scim_timeout() -> u64 {
    30
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourceSettings {
    /// The kinds of resource this site has.
    pub kinds: Vec<String>,
    /// The kinds an organisation's owners and managers (`resources.manage`) may create and
    /// edit themselves; the others are made by site admins.
    pub self_service_kinds: Vec<String>,
}

impl Default for ResourceSettings {
    fn default() -> Self {
        Self {
            kinds: ["cluster", "storage", "device", "service"]
                .map(String::from)
                .to_vec(),
            self_service_kinds: ["device", "service"].map(String::from).to_vec(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address and port to listen on, e.g. `127.0.0.1:8080`.
    pub listen: String,
    /// The URL people reach the portal at; used to build links in emails. When empty,
    /// `http://` plus the listening address.
    pub public_url: String,
    /// Key that signs session cookies; at least 64 characters. Every instance behind one
    /// load balancer needs the same value. When empty, a random key is made at start-up.
    pub session_secret: Secret,
    pub session_secret_file: Option<PathBuf>,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Run the directory outbox worker, and one worker per SCIM target, in this instance
    /// (retries, jobs of other instances). Directory changes are still tried at once by the
    /// instance that makes them. Turn it off only where another instance, or `roster outbox
    /// run` from cron, runs them.
    pub outbox_worker: bool,
    /// Run the mail worker in this instance: it sends what the mail outbox holds, paced
    /// site-wide. Turn it off only where another instance sends the mail.
    pub mail_worker: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: String::new(),
            session_secret: Secret::default(),
            session_secret_file: None,
            trust_forwarded_for: false,
            outbox_worker: true,
            mail_worker: true,
        }
    }
}

impl ServerSettings {
    /// Cookies get the `Secure` flag whenever the portal is served over HTTPS.
    pub fn cookies_secure(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://roster.db` (created on first start) or `postgres://user@host/db`.
    pub url: Secret,
    pub url_file: Option<PathBuf>,
    pub max_connections: u32,
    /// On SQLite, a member list of more members than this is searched through the
    /// trigram index of all accounts; a smaller one is read through, which is quicker.
    pub member_scan_limit: i64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: Secret::new("sqlite://roster.db"),
            url_file: None,
            max_connections: 10,
            member_scan_limit: 2_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LdapSettings {
    /// The directory servers, tried in order (failover); one URL or a list.
    pub url: LdapUrls,
    /// Seconds after a failover before the first server is tried again.
    #[serde(default = "default_retry_primary")]
    pub retry_primary_seconds: u64,
    pub bind_dn: String,
    #[serde(default)]
    pub bind_password: Secret,
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    pub base_dn: String,
    pub people_dn: String,
    pub groups_dn: String,
    pub uid_number_min: u32,
    pub uid_number_max: u32,
    pub gid_number_min: u32,
    pub gid_number_max: u32,
    /// Seconds to wait for the directory before treating it as unreachable.
    #[serde(default = "default_ldap_timeout")]
    pub timeout_seconds: u64,
    /// Login shells people may choose; the first is the default.
    #[serde(default = "default_login_shells")]
    pub login_shells: Vec<String>,
    /// Home directory of a new account; `{username}` is replaced.
    #[serde(default = "default_home_directory")]
    pub home_directory: String,
    /// loginShell of a locked account's entry, so it cannot log in with SSH keys either.
    #[serde(default = "default_locked_shell")]
    pub locked_shell: String,
    /// Where resources' posixGroups live; empty means `groups_dn`.
    #[serde(default)]
    pub resources_base: String,
    /// Seconds between two refreshes of the local people index (changed entries by
    /// `modifyTimestamp`; a full pass every hour for deletions); 0 turns the schedule off.
    #[serde(default = "default_index_refresh")]
    pub index_refresh_seconds: u64,
}

fn default_index_refresh() -> u64 {
    60
}

fn default_retry_primary() -> u64 {
    60
}

/// `ldap.url`: one URL, a list, or (as the environment gives) URLs separated by spaces,
/// as OpenLDAP's own `URI` setting takes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct LdapUrls(Vec<String>);

impl LdapUrls {
    pub fn new(urls: Vec<String>) -> Self {
        Self(urls)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Refuses an empty list or anything but an `ldap://`, `ldaps://` or `ldapi://` URL.
    fn check(&self) -> Result<(), String> {
        if self.0.is_empty() {
            return Err("ldap.url must name at least one server".into());
        }
        for url in &self.0 {
            let scheme_ok = ["ldap://", "ldaps://", "ldapi://"]
                .iter()
                .any(|scheme| url.len() > scheme.len() && url.starts_with(scheme));
            if !scheme_ok {
                return Err(format!(
                    "ldap.url: `{url}` is not an ldap://, ldaps:// or ldapi:// URL"
                ));
            }
        }
        Ok(())
    }
}

impl From<String> for LdapUrls {
    fn from(url: String) -> Self {
        Self(vec![url])
    }
}

impl fmt::Display for LdapUrls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl<'de> Deserialize<'de> for LdapUrls {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UrlsVisitor;
        impl<'de> serde::de::Visitor<'de> for UrlsVisitor {
            type Value = LdapUrls;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an LDAP URL or a list of them")
            }
            fn visit_str<E: serde::de::Error>(self, urls: &str) -> Result<LdapUrls, E> {
                Ok(LdapUrls(
                    urls.split_whitespace().map(str::to_string).collect(),
                ))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<LdapUrls, A::Error> {
                let mut urls = Vec::new();
                while let Some(url) = seq.next_element::<String>()? {
                    urls.push(url);
                }
                Ok(LdapUrls(urls))
            }
        }
        deserializer.deserialize_any(UrlsVisitor)
    }
}

impl LdapSettings {
    /// The container of resources' posixGroups.
    pub fn resources_dn(&self) -> &str {
        if self.resources_base.is_empty() {
            &self.groups_dn
        } else {
            &self.resources_base
        }
    }

    /// The home directory of `username`, from `home_directory`'s `{username}` pattern.
    pub fn home_directory_of(&self, username: &str) -> String {
        self.home_directory.replace("{username}", username)
    }
}

fn default_locked_shell() -> String {
    "/usr/sbin/nologin".into()
}

/// An OpenID Connect provider people may sign in with. The portal's redirect URI at the
/// provider is `<server.public_url>/auth/oidc/callback`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The provider's issuer; its `/.well-known/openid-configuration` is read from there.
    pub issuer_url: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Secret,
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Scopes asked for; `openid` is always included.
    #[serde(default = "default_oidc_scopes")]
    pub scopes: Vec<String>,
    /// The provider's name on the sign-in button, e.g. "University login".
    #[serde(default = "default_oidc_display_name")]
    pub display_name: String,
    /// The ID-token claim whose value is compared with an account's email address. With
    /// `email` (the default) the provider must also say `email_verified: true`.
    #[serde(default = "default_oidc_claim")]
    pub match_claim: String,
}

fn default_oidc_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}

fn default_oidc_display_name() -> String {
    "single sign-on".into()
}

fn default_oidc_claim() -> String {
    "email".into()
}

/// Membership end dates and what follows them.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleSettings {
    /// Days before a membership's end date when the member and the organisation's owners
    /// are reminded by email.
    pub reminder_days: u32,
    /// Days an account with no remaining membership stays usable before it is locked.
    /// Accounts are never deleted automatically.
    pub grace_days: u32,
    /// Minutes between two runs of the lifecycle job on each instance; 0 turns the
    /// schedule off (run `roster lifecycle run` from cron instead).
    pub interval_minutes: u32,
}

impl Default for LifecycleSettings {
    fn default() -> Self {
        Self {
            reminder_days: 14,
            grace_days: 30,
            interval_minutes: 60,
        }
    }
}

/// The automation API: its access tokens and per-client rate limit.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// The `aud` claim of access tokens; services that check tokens expect it.
    pub audience: String,
    /// Lifetime of an access token.
    pub token_minutes: u32,
    /// Requests one client may make each minute, token endpoint and API together, across
    /// all instances.
    pub rate_per_minute: u32,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            audience: "roster".into(),
            token_minutes: 10,
            rate_per_minute: 300,
        }
    }
}

fn default_login_shells() -> Vec<String> {
    vec!["/bin/bash".into(), "/bin/zsh".into(), "/bin/sh".into()]
}

fn default_home_directory() -> String {
    "/home/{username}".into()
}

fn default_ldap_timeout() -> u64 {
    5
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MailTransportKind {
    Smtp,
    File,
    Log,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    pub transport: MailTransportKind,
    #[serde(default = "default_smtp_host")]
    pub smtp_host: String,
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    #[serde(default = "default_smtp_tls")]
    pub smtp_tls: SmtpTls,
    #[serde(default)]
    pub smtp_username: Option<String>,
    #[serde(default)]
    pub smtp_password: Secret,
    #[serde(default)]
    pub smtp_password_file: Option<PathBuf>,
    /// Sender, e.g. `Roster <roster@example.org>`.
    pub from: String,
    #[serde(default = "default_mail_dir")]
    pub file_dir: PathBuf,
    /// Messages sent per minute, site-wide across instances, so a large batch stays within
    /// the relay's limits (1..=60000).
    #[serde(default = "default_mail_rate")]
    pub rate_per_minute: u32,
}

fn default_mail_rate() -> u32 {
    120
}

fn default_smtp_host() -> String {
    "localhost".into()
}
fn default_smtp_port() -> u16 {
    25
}
fn default_smtp_tls() -> SmtpTls {
    SmtpTls::Starttls
}
fn default_mail_dir() -> PathBuf {
    PathBuf::from("mail")
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySettings {
    /// bcrypt cost factor for new password hashes (4..=31).
    pub bcrypt_cost: u32,
    /// Hours a signed-in session lasts at most, however busy (the absolute lifetime).
    pub session_hours: u32,
    /// Minutes without a request after which a signed-in session ends (the idle timeout).
    pub session_idle_minutes: u32,
    /// Days an invitation link stays valid.
    pub invitation_ttl_days: u32,
    /// Sign-in attempts allowed per client address per minute.
    pub signin_attempts_per_ip_per_minute: u32,
    /// Sign-in attempts allowed per account name per 15 minutes.
    pub signin_attempts_per_account_per_15_minutes: u32,
    /// Password-reset mails sent to one account per hour, however often one is asked for;
    /// further requests get the same neutral answer and no mail.
    pub reset_mails_per_account_per_hour: u32,
    /// Password-reset requests allowed per client address per hour (its own budget, apart
    /// from sign-in's).
    pub reset_requests_per_ip_per_hour: u32,
    /// bcrypt hashes computed at once (threads at idle CPU priority); 0 means one core
    /// fewer than the machine has (at least one), which keeps a core free for pages during
    /// a burst of sign-ins.
    pub bcrypt_parallelism: u32,
    /// Seconds a password check may wait for a hashing thread before the person is told
    /// the portal is busy (503, try again); keeps a flood of sign-ins from piling up.
    pub hash_queue_seconds: u32,
}

impl SecuritySettings {
    pub fn max_concurrent_hashes(&self) -> usize {
        match self.bcrypt_parallelism {
            0 => std::thread::available_parallelism()
                .map(|cores| cores.get().saturating_sub(1))
                .unwrap_or(1)
                .max(1),
            n => usize::try_from(n).unwrap_or(1),
        }
    }
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            bcrypt_cost: 12,
            session_hours: 12,
            session_idle_minutes: 120,
            invitation_ttl_days: 7,
            signin_attempts_per_ip_per_minute: 30,
            signin_attempts_per_account_per_15_minutes: 10,
            reset_mails_per_account_per_hour: 3,
            reset_requests_per_ip_per_hour: 30,
            bcrypt_parallelism: 0,
            hash_queue_seconds: 20,
        }
    }
}

impl Settings {
    /// Loads the TOML file (when given) and overlays `ROSTER_<SECTION>__<KEY>` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, env)
    }

    /// Like [`Settings::load`] with an explicit environment, so tests need not touch the
    /// process environment.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::File {
                    path: path.to_path_buf(),
                    message: "no such file".into(),
                });
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        // Only `ROSTER_SECTION__KEY` names are settings; `ROSTER_CONFIG`, `ROSTER_LOG` and
        // other single-word names belong to the CLI or the test harness.
        let overrides: Vec<(String, String)> = env
            .into_iter()
            .filter_map(|(name, value)| {
                let key = name.strip_prefix("ROSTER_")?;
                key.contains("__")
                    .then(|| (key.to_ascii_lowercase().replace("__", "."), value))
            })
            .collect();
        for (key, value) in overrides {
            figment = figment.merge(Serialized::global(&key, value));
        }
        // Lossy: environment values are strings, and `"1000"` must still fill a number.
        let mut settings: Settings = figment.extract_lossy().map_err(|error| {
            ConfigError::Invalid(
                error
                    .into_iter()
                    .map(describe_figment_error)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        settings.read_secret_files()?;
        settings.check()?;
        Ok(settings)
    }

    fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        resolve_secret(
            "server.session_secret",
            &mut self.server.session_secret,
            self.server.session_secret_file.as_deref(),
        )?;
        resolve_secret(
            "database.url",
            &mut self.database.url,
            self.database.url_file.as_deref(),
        )?;
        resolve_secret(
            "ldap.bind_password",
            &mut self.ldap.bind_password,
            self.ldap.bind_password_file.as_deref(),
        )?;
        resolve_secret(
            "mail.smtp_password",
            &mut self.mail.smtp_password,
            self.mail.smtp_password_file.as_deref(),
        )?;
        for target in &mut self.provisioning.scim {
            resolve_secret(
                "provisioning.scim.bearer_token",
                &mut target.bearer_token,
                target.bearer_token_file.as_deref(),
            )?;
        }
        resolve_secret(
            "metrics.token",
            &mut self.metrics.token,
            self.metrics.token_file.as_deref(),
        )?;
        if let Some(oidc) = &mut self.oidc {
            resolve_secret(
                "oidc.client_secret",
                &mut oidc.client_secret,
                oidc.client_secret_file.as_deref(),
            )?;
        }
        Ok(())
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        if !(4..=31).contains(&self.security.bcrypt_cost) {
            return invalid("security.bcrypt_cost must be between 4 and 31".into());
        }
        if let Err(message) = self.ldap.url.check() {
            return invalid(message);
        }
        if self.ldap.uid_number_min > self.ldap.uid_number_max {
            return invalid("ldap.uid_number_min is above ldap.uid_number_max".into());
        }
        if self.ldap.login_shells.is_empty() {
            return invalid("ldap.login_shells must list at least one shell".into());
        }
        if !self.ldap.home_directory.contains("{username}") {
            return invalid("ldap.home_directory must contain {username}".into());
        }
        if self.ldap.gid_number_min > self.ldap.gid_number_max {
            return invalid("ldap.gid_number_min is above ldap.gid_number_max".into());
        }
        let secret_len = self.server.session_secret.expose().len();
        if secret_len != 0 && secret_len < 64 {
            return invalid("server.session_secret must be at least 64 characters".into());
        }
        let public_url = &self.server.public_url;
        let is_http = public_url.starts_with("http://") || public_url.starts_with("https://");
        if !public_url.is_empty() && !is_http {
            return invalid("server.public_url must start with http:// or https://".into());
        }
        let url = self.database.url.expose();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres")) {
            return invalid("database.url must start with sqlite:// or postgres://".into());
        }
        if let Some(oidc) = &self.oidc {
            let issuer = &oidc.issuer_url;
            if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
                return invalid(
                    "oidc.issuer_url must start with https:// (or http:// for tests)".into(),
                );
            }
            if oidc.client_id.is_empty() || oidc.client_secret.is_empty() {
                return invalid(
                    "oidc.client_id and oidc.client_secret (or client_secret_file) are required"
                        .into(),
                );
            }
            if oidc.match_claim.is_empty() {
                return invalid("oidc.match_claim must name a claim".into());
            }
        }
        if self.security.signin_attempts_per_ip_per_minute == 0
            || self.security.signin_attempts_per_account_per_15_minutes == 0
        {
            return invalid("security.signin_attempts_* must be at least 1".into());
        }
        if self.security.reset_requests_per_ip_per_hour == 0 {
            return invalid("security.reset_requests_per_ip_per_hour must be at least 1".into());
        }
        if self.security.session_idle_minutes == 0 || self.security.session_hours == 0 {
            return invalid(
                "security.session_idle_minutes and security.session_hours must be at least 1"
                    .into(),
            );
        }
        if self.resources.kinds.is_empty()
            || self
                .resources
                .self_service_kinds
                .iter()
                .any(|kind| !self.resources.kinds.contains(kind))
        {
            return invalid(
                "resources.kinds must name at least one kind, and resources.self_service_kinds only kinds from it"
                    .into(),
            );
        }
        if !(1..=60_000).contains(&self.mail.rate_per_minute) {
            return invalid("mail.rate_per_minute must be between 1 and 60000".into());
        }
        if self.reconcile.max_change_percent > 100 {
            return Err(ConfigError::Invalid(
                "reconcile.max_change_percent must be between 0 and 100".into(),
            ));
        }
        self.check_metrics()?;
        self.check_scim_targets()
    }

    fn check_metrics(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        let token = self.metrics.token.expose();
        if !token.is_empty() && token.len() < MIN_METRICS_TOKEN {
            return invalid(format!(
                "metrics.token_file must hold at least {MIN_METRICS_TOKEN} characters"
            ));
        }
        if let Some(listen) = &self.metrics.listen {
            let Ok(address) = listen.parse::<std::net::SocketAddr>() else {
                return invalid(format!(
                    "metrics.listen `{listen}` must be an IP address and port, e.g. 127.0.0.1:9464"
                ));
            };
            // It serves without a token, so only this machine may reach it.
            if !address.ip().is_loopback() {
                return invalid(format!(
                    "metrics.listen `{listen}` is not a loopback address: it serves metrics without a token; use 127.0.0.1 or [::1], or metrics.token_file on the main port"
                ));
            }
        }
        Ok(())
    }

    fn check_scim_targets(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        let targets = &self.provisioning.scim;
        for (index, target) in targets.iter().enumerate() {
            let name = &target.name;
            let well_formed = !name.is_empty()
                && name.len() <= 40
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !well_formed {
                return invalid(format!(
                    "provisioning.scim name `{name}` must be 1 to 40 letters, digits or -"
                ));
            }
            if targets[..index].iter().any(|other| &other.name == name) {
                return invalid(format!("provisioning.scim name `{name}` is used twice"));
            }
            let url = &target.base_url;
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return invalid(format!(
                    "provisioning.scim `{name}`: base_url must start with https:// (or http://)"
                ));
            }
            if target.bearer_token.is_empty() {
                return invalid(format!(
                    "provisioning.scim `{name}`: bearer_token_file (or bearer_token) is required"
                ));
            }
            if !(1..=60_000).contains(&target.rate_per_minute) {
                return invalid(format!(
                    "provisioning.scim `{name}`: rate_per_minute must be between 1 and 60000"
                ));
            }
            if !(1..=1000).contains(&target.max_batch) {
                return invalid(format!(
                    "provisioning.scim `{name}`: max_batch must be between 1 and 1000"
                ));
            }
            if !(1..=600).contains(&target.timeout_seconds) {
                return invalid(format!(
                    "provisioning.scim `{name}`: timeout_seconds must be between 1 and 600"
                ));
            }
        }
        Ok(())
    }
}

fn resolve_secret(key: &str, value: &mut Secret, file: Option<&Path>) -> Result<(), ConfigError> {
    let Some(path) = file else { return Ok(()) };
    let contents = std::fs::read_to_string(path).map_err(|error| ConfigError::File {
        path: path.to_path_buf(),
        message: format!("cannot read {key}_file: {error}"),
    })?;
    *value = Secret::new(contents.trim_end_matches(['\r', '\n']));
    Ok(())
}

fn describe_figment_error(error: figment::Error) -> String {
    use figment::error::Kind;
    // Figment's path sometimes already ends with the offending key, sometimes not.
    let full_key = |field: &str| {
        let mut path = error.path.clone();
        if path.last().map(String::as_str) != Some(field) {
            path.push(field.to_string());
        }
        path.join(".")
    };
    match &error.kind {
        Kind::UnknownField(field, _) => format!("unknown key `{}`", full_key(field)),
        Kind::MissingField(field) => format!("missing key `{}`", full_key(field)),
        _ if error.path.is_empty() => error.to_string(),
        _ => format!("`{}`: {}", error.path.join("."), error.kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Vec<(String, String)> {
        [
            ("ROSTER_LDAP__URL", "ldap://127.0.0.1:389"),
            ("ROSTER_LDAP__BIND_DN", "cn=admin,dc=example,dc=org"),
            ("ROSTER_LDAP__BASE_DN", "dc=example,dc=org"),
            ("ROSTER_LDAP__PEOPLE_DN", "ou=people,dc=example,dc=org"),
            ("ROSTER_LDAP__GROUPS_DN", "ou=groups,dc=example,dc=org"),
            ("ROSTER_LDAP__UID_NUMBER_MIN", "1000"),
            ("ROSTER_LDAP__UID_NUMBER_MAX", "2000"),
            ("ROSTER_LDAP__GID_NUMBER_MIN", "1000"),
            ("ROSTER_LDAP__GID_NUMBER_MAX", "2000"),
            ("ROSTER_MAIL__TRANSPORT", "log"),
            ("ROSTER_MAIL__FROM", "roster@example.org"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn environment_alone_is_enough_and_numbers_parse() -> Result<(), ConfigError> {
        let settings = Settings::load_from(None, minimal())?;
        assert_eq!(settings.ldap.uid_number_max, 2000);
        assert_eq!(settings.security.bcrypt_cost, 12);
        assert_eq!(settings.database.url.expose(), "sqlite://roster.db");
        Ok(())
    }

    #[test]
    fn missing_required_key_is_named() {
        let env: Vec<_> = minimal()
            .into_iter()
            .filter(|(k, _)| k != "ROSTER_LDAP__PEOPLE_DN")
            .collect();
        let error = Settings::load_from(None, env).err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("configuration: missing key `ldap.people_dn`")
        );
    }

    #[test]
    fn unknown_environment_key_is_named_in_the_error() {
        let mut env = minimal();
        env.push(("ROSTER_LDAP__URLL".into(), "x".into()));
        let error = Settings::load_from(None, env).err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("configuration: unknown key `ldap.urll`")
        );
    }

    #[test]
    fn the_log_format_is_text_json_or_refused_by_name() -> Result<(), ConfigError> {
        assert_eq!(
            Settings::load_from(None, minimal())?.log.format,
            LogFormat::Text
        );
        let mut env = minimal();
        env.push(("ROSTER_LOG__FORMAT".into(), "json".into()));
        assert_eq!(Settings::load_from(None, env)?.log.format, LogFormat::Json);
        let mut env = minimal();
        env.push(("ROSTER_LOG__FORMAT".into(), "xml".into()));
        let error = Settings::load_from(None, env).err().map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.contains("log.format")),
            "{error:?}"
        );
        Ok(())
    }

    #[test]
    fn single_word_roster_variables_are_not_settings() -> Result<(), ConfigError> {
        let mut env = minimal();
        env.push(("ROSTER_CONFIG".into(), "/etc/roster.toml".into()));
        env.push(("ROSTER_TEST_DB".into(), "postgres".into()));
        Settings::load_from(None, env)?;
        Ok(())
    }

    #[test]
    fn oidc_is_optional_and_its_secret_can_come_from_a_file()
    -> Result<(), Box<dyn std::error::Error>> {
        assert!(Settings::load_from(None, minimal())?.oidc.is_none());
        let dir = tempfile::tempdir()?;
        let secret = dir.path().join("oidc-secret");
        std::fs::write(&secret, "s3cret-from-file\n")?;
        let mut env = minimal();
        env.push((
            "ROSTER_OIDC__ISSUER_URL".into(),
            "https://login.example.edu".into(),
        ));
        env.push(("ROSTER_OIDC__CLIENT_ID".into(), "roster".into()));
        env.push((
            "ROSTER_OIDC__CLIENT_SECRET_FILE".into(),
            secret.display().to_string(),
        ));
        let settings = Settings::load_from(None, env.clone())?;
        let oidc = settings.oidc.ok_or("oidc section")?;
        assert_eq!(oidc.client_secret.expose(), "s3cret-from-file");
        assert_eq!(oidc.match_claim, "email");
        assert_eq!(oidc.scopes, ["openid", "email", "profile"]);
        // Without a secret the section is refused with the keys named.
        let without: Vec<_> = env
            .into_iter()
            .filter(|(key, _)| key != "ROSTER_OIDC__CLIENT_SECRET_FILE")
            .collect();
        let error = Settings::load_from(None, without)
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("oidc.client_secret")));
        Ok(())
    }

    #[test]
    fn secrets_never_show_in_debug_output() -> Result<(), ConfigError> {
        let mut env = minimal();
        env.push(("ROSTER_LDAP__BIND_PASSWORD".into(), "hunter2-secret".into()));
        let settings = Settings::load_from(None, env)?;
        assert_eq!(settings.ldap.bind_password.expose(), "hunter2-secret");
        assert!(!format!("{settings:?}").contains("hunter2"));
        Ok(())
    }

    fn with_ldap_url(file_line: &str) -> Result<Settings, ConfigError> {
        let io = |error: std::io::Error| ConfigError::Invalid(error.to_string());
        let dir = tempfile::tempdir().map_err(io)?;
        let file = dir.path().join("roster.toml");
        std::fs::write(&file, format!("[ldap]\n{file_line}\n")).map_err(io)?;
        let env = minimal()
            .into_iter()
            .filter(|(k, _)| k != "ROSTER_LDAP__URL");
        Settings::load_from(Some(&file), env)
    }

    #[test]
    fn ldap_url_is_one_url_or_a_list() -> Result<(), ConfigError> {
        let one = with_ldap_url(r#"url = "ldap://a.example.org""#)?;
        assert_eq!(one.ldap.url.as_slice(), ["ldap://a.example.org"]);
        assert_eq!(one.ldap.retry_primary_seconds, 60);
        let two = with_ldap_url(r#"url = ["ldap://a.example.org", "ldaps://b.example.org:636"]"#)?;
        assert_eq!(
            two.ldap.url.as_slice(),
            ["ldap://a.example.org", "ldaps://b.example.org:636"]
        );
        // The environment's override: one URL, or several separated by spaces.
        let env = Settings::load_from(None, minimal())?;
        assert_eq!(env.ldap.url.as_slice(), ["ldap://127.0.0.1:389"]);
        let mut list = minimal();
        list.retain(|(k, _)| k != "ROSTER_LDAP__URL");
        list.push((
            "ROSTER_LDAP__URL".into(),
            "ldap://a:389 ldap://b:389".into(),
        ));
        list.push(("ROSTER_LDAP__RETRY_PRIMARY_SECONDS".into(), "5".into()));
        let from_env = Settings::load_from(None, list)?;
        assert_eq!(
            from_env.ldap.url.as_slice(),
            ["ldap://a:389", "ldap://b:389"]
        );
        assert_eq!(from_env.ldap.retry_primary_seconds, 5);
        Ok(())
    }

    #[test]
    fn a_bad_ldap_url_list_is_refused_naming_the_key() {
        let refusal = |line: &str| with_ldap_url(line).err().map(|e| e.to_string());
        assert_eq!(
            refusal("url = []").as_deref(),
            Some("configuration: ldap.url must name at least one server")
        );
        assert_eq!(
            refusal(r#"url = """#).as_deref(),
            Some("configuration: ldap.url must name at least one server")
        );
        assert_eq!(
            refusal(r#"url = ["ldap://a.example.org", "http://b.example.org"]"#).as_deref(),
            Some(
                "configuration: ldap.url: `http://b.example.org` is not an ldap://, ldaps:// \
                 or ldapi:// URL"
            )
        );
        let wrong_type = refusal("url = 389").unwrap_or_default();
        assert!(wrong_type.contains("ldap.url"), "{wrong_type}");
    }

    #[test]
    fn the_example_file_is_complete_and_valid() -> Result<(), ConfigError> {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("roster.example.toml");
        let settings = Settings::load_from(Some(&example), Vec::new())?;
        assert_eq!(settings.server.listen, "127.0.0.1:8080");
        assert_eq!(settings.mail.smtp_tls, SmtpTls::Starttls);
        Ok(())
    }

    #[test]
    fn secrets_can_come_from_files() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("roster-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("ldap-password");
        std::fs::write(&file, "from-a-file\n")?;
        let mut env = minimal();
        env.push((
            "ROSTER_LDAP__BIND_PASSWORD_FILE".into(),
            file.display().to_string(),
        ));
        let settings = Settings::load_from(None, env)?;
        assert_eq!(settings.ldap.bind_password.expose(), "from-a-file");
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn scim_targets_take_defaults_their_token_file_and_refuse_unknown_keys()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let token = dir.path().join("okta-token");
        std::fs::write(&token, "scim-token\n")?;
        let file = dir.path().join("roster.toml");
        let target = format!(
            "[[provisioning.scim]]\nname = \"okta\"\nbase_url = \"https://example.okta.com/scim/v2\"\n\
             bearer_token_file = \"{}\"\n",
            token.display()
        );
        std::fs::write(&file, &target)?;
        let settings = Settings::load_from(Some(&file), minimal())?;
        let okta = settings.provisioning.scim.first().ok_or("one target")?;
        assert_eq!(okta.bearer_token.expose(), "scim-token");
        assert_eq!((okta.rate_per_minute, okta.max_batch), (300, 100));
        assert!(okta.users && okta.groups && okta.permissions);
        assert_eq!(settings.provisioning.reconcile_minutes, 60);

        std::fs::write(&file, format!("{target}rate_per_minut = 5\n"))?;
        let error = Settings::load_from(Some(&file), minimal())
            .err()
            .map(|e| e.to_string());
        assert!(
            error.is_some_and(|e| e.contains("rate_per_minut")),
            "typo refused"
        );
        std::fs::write(&file, format!("{target}{target}"))?;
        let error = Settings::load_from(Some(&file), minimal())
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("used twice")));
        std::fs::write(&file, target.replace("https://", "ftp://"))?;
        let error = Settings::load_from(Some(&file), minimal())
            .err()
            .map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("base_url")));
        Ok(())
    }

    #[test]
    fn the_drift_report_is_off_by_default_and_its_threshold_a_percentage()
    -> Result<(), Box<dyn std::error::Error>> {
        let settings = Settings::load_from(None, minimal())?;
        assert_eq!(settings.reconcile.interval_minutes, 0);
        assert_eq!(settings.reconcile.max_change_percent, 10);
        let mut env = minimal();
        env.push(("ROSTER_RECONCILE__MAX_CHANGE_PERCENT".into(), "101".into()));
        let error = Settings::load_from(None, env).err().map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("max_change_percent")));
        Ok(())
    }

    #[test]
    fn bcrypt_parallelism_leaves_a_core_for_pages() {
        let mut security = SecuritySettings::default();
        assert!(security.max_concurrent_hashes() >= 1);
        security.bcrypt_parallelism = 3;
        assert_eq!(security.max_concurrent_hashes(), 3);
    }
}

//! The LDAP directory, through ldap3; the only place LDAP lives.
//!
//! For now it answers whether the directory is reachable with the configured service
//! account. Searches and entry writes are added here, never in handlers.

use std::time::Duration;

use ldap3::{LdapConnAsync, LdapConnSettings};

use crate::config::LdapSettings;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("LDAP server {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("LDAP bind as {dn} failed: {reason}")]
    BindFailed { dn: String, reason: String },
    #[error("LDAP server {url} did not answer within {seconds} s")]
    Timeout { url: String, seconds: u64 },
}

#[derive(Clone)]
pub struct Directory {
    settings: LdapSettings,
}

impl Directory {
    pub fn new(settings: LdapSettings) -> Self {
        Self { settings }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.settings.timeout_seconds.max(1))
    }

    /// Connects and binds as the service account, then unbinds: the readiness check.
    pub async fn ping(&self) -> Result<(), DirectoryError> {
        let timeout = self.timeout();
        let url = self.settings.url.clone();
        let attempt = async {
            let conn_settings = LdapConnSettings::new().set_conn_timeout(timeout);
            let (conn, mut ldap) = LdapConnAsync::with_settings(conn_settings, &url)
                .await
                .map_err(|error| DirectoryError::Unreachable {
                    url: url.clone(),
                    reason: error.to_string(),
                })?;
            ldap3::drive!(conn);
            ldap.simple_bind(&self.settings.bind_dn, self.settings.bind_password.expose())
                .await
                .and_then(|result| result.success())
                .map_err(|error| DirectoryError::BindFailed {
                    dn: self.settings.bind_dn.clone(),
                    reason: error.to_string(),
                })?;
            // A failed unbind after a good bind does not make the directory unready.
            let _ = ldap.unbind().await;
            Ok(())
        };
        tokio::time::timeout(timeout, attempt)
            .await
            .map_err(|_| DirectoryError::Timeout {
                url: self.settings.url.clone(),
                seconds: timeout.as_secs(),
            })?
    }
}

//! What the start-up checks ask the directory.

use ldap3::{Scope, SearchEntry};

use super::{Directory, DirectoryError};

/// LDAP's noSuchObject result code (RFC 4511).
const NO_SUCH_OBJECT: u32 = 32;

impl Directory {
    /// Whether the entry `dn` exists (a misconfigured base DN does not).
    pub async fn entry_exists(&self, dn: &str) -> Result<bool, DirectoryError> {
        let mut ldap = self.handle().await?;
        let result = self
            .operation(
                "search",
                ldap.search(dn, Scope::Base, "(objectClass=*)", vec!["1.1"]),
            )
            .await?;
        if result.1.rc == NO_SUCH_OBJECT {
            return Ok(false);
        }
        let (entries, _) = result
            .success()
            .map_err(|error| DirectoryError::Operation(error.to_string()))?;
        Ok(entries.into_iter().map(SearchEntry::construct).count() == 1)
    }
}

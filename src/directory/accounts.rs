//! posixAccount entries for people, with their private group.

use std::collections::HashSet;

use ldap3::{Mod, Scope, SearchOptions, dn_escape, ldap_escape};

use super::groups::GroupState;
use super::{Directory, DirectoryError};

/// LDAP result code 32: the entry does not exist.
const NO_SUCH_OBJECT: u32 = 32;

/// What a person's entry should hold.
#[derive(Debug, Clone)]
pub struct AccountState {
    pub username: String,
    pub surname: String,
    pub given_name: Option<String>,
    pub email: String,
    pub uid_number: i64,
    pub gid_number: i64,
    pub home_directory: String,
    pub login_shell: String,
    /// The portal's bcrypt hash; stored as `{CRYPT}<hash>` so LDAP binds check it too.
    pub password_hash: Option<String>,
    /// Every `sshPublicKey` value the entry must hold, exactly.
    pub ssh_keys: Vec<String>,
}

impl AccountState {
    fn common_name(&self) -> String {
        match &self.given_name {
            Some(given) => format!("{given} {}", self.surname),
            None => self.surname.clone(),
        }
    }
}

impl Directory {
    pub fn person_dn(&self, username: &str) -> String {
        format!("uid={},{}", dn_escape(username), self.settings().people_dn)
    }

    /// Whether the directory already has this name as a person's uid or a group's cn.
    pub async fn name_taken(&self, name: &str) -> Result<bool, DirectoryError> {
        let mut ldap = self.handle().await?;
        let value = ldap_escape(name);
        let filter = format!("(|(uid={value})(&(objectClass=posixGroup)(cn={value})))");
        let result = ldap
            .with_search_options(SearchOptions::new().sizelimit(1))
            .search(
                &self.settings().base_dn,
                Scope::Subtree,
                &filter,
                vec!["1.1"],
            )
            .await;
        match result {
            Ok(result) => Ok(!result.0.is_empty() || result.1.rc == 4),
            Err(error) => Err(self.failed(error).await),
        }
    }

    /// Makes the person's entry and private group match `state`: creates them, or replaces
    /// the attributes the portal owns (others are left alone). Idempotent.
    pub async fn sync_account(&self, state: &AccountState) -> Result<(), DirectoryError> {
        let dn = self.person_dn(&state.username);
        let cn = state.common_name();
        let uid_number = state.uid_number.to_string();
        let gid_number = state.gid_number.to_string();
        let password = state
            .password_hash
            .as_ref()
            .map(|hash| format!("{{CRYPT}}{hash}"));
        let mut owned: Vec<(&str, HashSet<&str>)> = vec![
            ("cn", HashSet::from([cn.as_str()])),
            ("sn", HashSet::from([state.surname.as_str()])),
            ("mail", HashSet::from([state.email.as_str()])),
            ("uidNumber", HashSet::from([uid_number.as_str()])),
            ("gidNumber", HashSet::from([gid_number.as_str()])),
            (
                "homeDirectory",
                HashSet::from([state.home_directory.as_str()]),
            ),
            ("loginShell", HashSet::from([state.login_shell.as_str()])),
            (
                "givenName",
                state.given_name.iter().map(String::as_str).collect(),
            ),
            (
                "userPassword",
                password.iter().map(String::as_str).collect(),
            ),
            (
                "sshPublicKey",
                state.ssh_keys.iter().map(String::as_str).collect(),
            ),
        ];
        let mut ldap = self.handle().await?;
        // Never take over an entry that is not this account: an existing uid=<username>
        // must carry our uidNumber, and a new one must not reuse someone else's.
        let existing = match ldap
            .search(&dn, Scope::Base, "(objectClass=*)", vec!["uidNumber"])
            .await
        {
            Ok(result) => result,
            Err(error) => return Err(self.failed(error).await),
        };
        if existing.1.rc == 0 {
            let theirs = existing
                .0
                .into_iter()
                .next()
                .map(ldap3::SearchEntry::construct)
                .and_then(|entry| {
                    entry
                        .attrs
                        .get("uidNumber")
                        .and_then(|v| v.first())
                        .cloned()
                });
            if theirs.as_deref().is_some_and(|theirs| theirs != uid_number) {
                return Err(DirectoryError::Operation(format!(
                    "{dn} already exists in LDAP with another uidNumber; not overwritten, resolve by hand"
                )));
            }
        } else if existing.1.rc == NO_SUCH_OBJECT {
            let filter = format!(
                "(&(uidNumber={})(!(uid={})))",
                ldap_escape(uid_number.as_str()),
                ldap_escape(state.username.as_str())
            );
            let clash = match ldap
                .with_search_options(SearchOptions::new().sizelimit(1))
                .search(
                    &self.settings().base_dn,
                    Scope::Subtree,
                    &filter,
                    vec!["1.1"],
                )
                .await
            {
                Ok(result) => result,
                Err(error) => return Err(self.failed(error).await),
            };
            if let Some(other) = clash
                .0
                .into_iter()
                .next()
                .map(ldap3::SearchEntry::construct)
            {
                return Err(DirectoryError::Operation(format!(
                    "uidNumber {uid_number} is already used by {} in LDAP; not created, resolve by hand",
                    other.dn
                )));
            }
        }
        let replaced = ldap
            .modify(
                &dn,
                owned
                    .iter()
                    .map(|(attribute, values)| Mod::Replace(*attribute, values.clone()))
                    .collect(),
            )
            .await;
        let outcome = match replaced {
            Ok(outcome) => outcome,
            Err(error) => return Err(self.failed(error).await),
        };
        match outcome.rc {
            0 => {}
            NO_SUCH_OBJECT => {
                owned.retain(|(_, values)| !values.is_empty());
                owned.push(("uid", HashSet::from([state.username.as_str()])));
                owned.push((
                    "objectClass",
                    HashSet::from(["top", "inetOrgPerson", "posixAccount", "ldapPublicKey"]),
                ));
                let added = match ldap.add(&dn, owned).await {
                    Ok(outcome) => outcome,
                    Err(error) => return Err(self.failed(error).await),
                };
                added
                    .success()
                    .map_err(|error| DirectoryError::Operation(error.to_string()))?;
            }
            _ => return Err(DirectoryError::Operation(outcome.to_string())),
        }
        self.sync_group(&GroupState {
            cn: state.username.clone(),
            gid_number: state.gid_number,
            member_uids: Vec::new(),
        })
        .await
    }
}

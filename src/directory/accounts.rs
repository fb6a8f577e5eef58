//! posixAccount entries for people, with their private group.

use std::collections::{BTreeMap, HashSet};

use ldap3::{LdapError, Mod, Scope, dn_escape, ldap_escape};

use super::groups::GroupState;
use super::{Directory, DirectoryError};
use crate::config::LdapSettings;

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

/// What the portal knows of a POSIX account, from which its entry follows.
pub struct AccountFacts {
    pub username: String,
    pub uid_number: i64,
    pub gid_number: i64,
    pub surname: String,
    pub given_name: Option<String>,
    pub email: String,
    /// The shell the person chose, if any.
    pub login_shell: Option<String>,
    pub password_hash: Option<String>,
    /// Locked (or deleted): the entry must let nobody in.
    pub locked: bool,
    pub ssh_keys: Vec<String>,
}

impl AccountState {
    /// What the entry must hold. A locked account's entry has no userPassword and no
    /// sshPublicKey and the locked shell, so neither a bind nor an SSH key gets in;
    /// unlocking writes them back.
    pub fn expected(facts: AccountFacts, ldap: &LdapSettings) -> Self {
        let login_shell = if facts.locked {
            ldap.locked_shell.clone()
        } else {
            facts
                .login_shell
                .or_else(|| ldap.login_shells.first().cloned())
                .unwrap_or_else(|| "/bin/bash".into())
        };
        Self {
            home_directory: ldap.home_directory_of(&facts.username),
            username: facts.username,
            surname: facts.surname,
            given_name: facts.given_name,
            email: facts.email,
            uid_number: facts.uid_number,
            gid_number: facts.gid_number,
            login_shell,
            password_hash: if facts.locked {
                None
            } else {
                facts.password_hash
            },
            ssh_keys: if facts.locked {
                Vec::new()
            } else {
                facts.ssh_keys
            },
        }
    }

    fn common_name(&self) -> String {
        match &self.given_name {
            Some(given) => format!("{given} {}", self.surname),
            None => self.surname.clone(),
        }
    }

    /// Every attribute the portal owns on the entry with the values it must hold exactly
    /// (an empty list: the attribute must be absent). Other attributes are left alone.
    pub fn owned_attributes(&self) -> Vec<(&'static str, Vec<String>)> {
        vec![
            ("cn", vec![self.common_name()]),
            ("sn", vec![self.surname.clone()]),
            ("givenName", self.given_name.iter().cloned().collect()),
            ("mail", vec![self.email.clone()]),
            ("uidNumber", vec![self.uid_number.to_string()]),
            ("gidNumber", vec![self.gid_number.to_string()]),
            ("homeDirectory", vec![self.home_directory.clone()]),
            ("loginShell", vec![self.login_shell.clone()]),
            (
                "userPassword",
                self.password_hash
                    .iter()
                    .map(|hash| format!("{{CRYPT}}{hash}"))
                    .collect(),
            ),
            ("sshPublicKey", self.ssh_keys.clone()),
        ]
    }
}

/// An entry as LDAP holds it now: attribute name → values.
pub type LiveEntry = BTreeMap<String, Vec<String>>;

impl Directory {
    pub fn person_dn(&self, username: &str) -> String {
        format!("uid={},{}", dn_escape(username), self.settings().people_dn)
    }

    /// Whether the directory already has this name as a person's uid or a group's cn.
    pub async fn name_taken(&self, name: &str) -> Result<bool, DirectoryError> {
        let mut ldap = self.handle().await?;
        let value = ldap_escape(name);
        let filter = format!("(|(uid={value})(&(objectClass=posixGroup)(cn={value})))");
        Ok(self.first_match(&mut ldap, &filter).await?.is_some())
    }

    /// Makes the person's entry and private group match `state`: creates them, or replaces
    /// the attributes the portal owns (others are left alone). Idempotent.
    pub async fn sync_account(&self, state: &AccountState) -> Result<(), DirectoryError> {
        let dn = self.person_dn(&state.username);
        let expected = state.owned_attributes();
        let uid_number = state.uid_number.to_string();
        let mut owned: Vec<(&str, HashSet<&str>)> = expected
            .iter()
            .map(|(attribute, values)| (*attribute, values.iter().map(String::as_str).collect()))
            .collect();
        let mut ldap = self.handle().await?;
        // Never take over an entry that is not this account: an existing uid=<username>
        // must carry our uidNumber, and a new one must not reuse someone else's.
        let existing = self
            .operation(
                "search",
                ldap.search(&dn, Scope::Base, "(objectClass=*)", vec!["uidNumber"]),
            )
            .await?;
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
            if let Some(other) = self.first_match(&mut ldap, &filter).await? {
                return Err(DirectoryError::Operation(format!(
                    "uidNumber {uid_number} is already used by {} in LDAP; not created, resolve by hand",
                    other
                )));
            }
        }
        let outcome = self
            .operation(
                "modify",
                ldap.modify(
                    &dn,
                    owned
                        .iter()
                        .map(|(attribute, values)| Mod::Replace(*attribute, values.clone()))
                        .collect(),
                ),
            )
            .await?;
        match outcome.rc {
            0 => {}
            NO_SUCH_OBJECT => {
                owned.retain(|(_, values)| !values.is_empty());
                owned.push(("uid", HashSet::from([state.username.as_str()])));
                owned.push((
                    "objectClass",
                    HashSet::from(["top", "inetOrgPerson", "posixAccount", "ldapPublicKey"]),
                ));
                let added = self.operation("add", ldap.add(&dn, owned)).await?;
                added.success().map_err(|error| match error {
                    LdapError::LdapResult { result } => DirectoryError::refused(&result),
                    other => DirectoryError::Operation(other.to_string()),
                })?;
            }
            _ => return Err(DirectoryError::refused(&outcome)),
        }
        self.sync_group(&GroupState {
            cn: state.username.clone(),
            gid_number: state.gid_number,
            member_uids: Vec::new(),
            place: super::groups::GroupPlace::Groups,
        })
        .await
    }

    /// The entry `uid=<username>` as it is now (the attributes the portal owns, plus
    /// objectClass), or `None` when there is no such entry.
    pub async fn account_entry(&self, username: &str) -> Result<Option<LiveEntry>, DirectoryError> {
        let dn = self.person_dn(username);
        let mut ldap = self.handle().await?;
        let attributes = vec![
            "objectClass",
            "cn",
            "sn",
            "givenName",
            "mail",
            "uidNumber",
            "gidNumber",
            "homeDirectory",
            "loginShell",
            "userPassword",
            "sshPublicKey",
        ];
        let result = self
            .operation(
                "search",
                ldap.search(&dn, Scope::Base, "(objectClass=*)", attributes),
            )
            .await?;
        if result.1.rc == NO_SUCH_OBJECT {
            return Ok(None);
        }
        let Some(entry) = result.0.into_iter().next() else {
            return Ok(None);
        };
        let entry = ldap3::SearchEntry::construct(entry);
        let mut live: LiveEntry = entry.attrs.into_iter().collect();
        // userPassword is binary-valued in some schemas; ldap3 puts those in bin_attrs.
        for (attribute, values) in entry.bin_attrs {
            live.insert(
                attribute,
                values
                    .into_iter()
                    .map(|value| String::from_utf8_lossy(&value).into_owned())
                    .collect(),
            );
        }
        Ok(Some(live))
    }

    /// Removes a deleted account's entry and private group, but only entries that are
    /// still this account's (same uidNumber, same gidNumber). Missing entries are fine, so
    /// running it twice changes nothing.
    pub async fn delete_account(
        &self,
        username: &str,
        uid_number: i64,
        gid_number: i64,
    ) -> Result<(), DirectoryError> {
        let person = (
            self.person_dn(username),
            "uidNumber",
            uid_number.to_string(),
        );
        let group = (self.group_dn(username), "gidNumber", gid_number.to_string());
        for (dn, attribute, number) in [person, group] {
            self.delete_entry_holding(&dn, attribute, &number).await?;
        }
        Ok(())
    }

    /// Deletes the entry `dn` if it is there and its `attribute` is `number` (so an entry
    /// someone else made with that name is never removed); gone already is fine.
    pub(super) async fn delete_entry_holding(
        &self,
        dn: &str,
        attribute: &str,
        number: &str,
    ) -> Result<(), DirectoryError> {
        let mut ldap = self.handle().await?;
        let found = self
            .operation(
                "search",
                ldap.search(dn, Scope::Base, "(objectClass=*)", vec![attribute]),
            )
            .await?;
        if found.1.rc == NO_SUCH_OBJECT {
            return Ok(());
        }
        let theirs = found
            .0
            .into_iter()
            .next()
            .map(ldap3::SearchEntry::construct)
            .and_then(|entry| entry.attrs.get(attribute).and_then(|v| v.first()).cloned());
        if theirs.as_deref() != Some(number) {
            return Err(DirectoryError::Operation(format!(
                "{dn} has another {attribute} than expected; not removed, resolve by hand"
            )));
        }
        let deleted = self.operation("delete", ldap.delete(dn)).await?;
        if deleted.rc != 0 && deleted.rc != NO_SUCH_OBJECT {
            return Err(DirectoryError::refused(&deleted));
        }
        Ok(())
    }
}

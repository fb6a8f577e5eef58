//! posixGroup entries for organisations, and number checks for allocation.

use std::collections::HashSet;

use ldap3::{LdapError, Mod, dn_escape, ldap_escape};

use super::{Directory, DirectoryError};

/// LDAP result code 32: the entry does not exist.
const NO_SUCH_OBJECT: u32 = 32;

/// What a group (an organisation's, a person's private one, or a resource's) should look
/// like in LDAP.
#[derive(Debug, Clone)]
pub struct GroupState {
    pub cn: String,
    pub gid_number: i64,
    pub member_uids: Vec<String>,
    pub place: GroupPlace,
}

/// Which container a group lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupPlace {
    /// `ldap.groups_dn`: organisations and private groups.
    Groups,
    /// `ldap.resources_base`: resources.
    Resources,
}

impl Directory {
    pub fn group_dn(&self, cn: &str) -> String {
        format!("cn={},{}", dn_escape(cn), self.settings().groups_dn)
    }

    pub fn resource_group_dn(&self, cn: &str) -> String {
        format!("cn={},{}", dn_escape(cn), self.settings().resources_dn())
    }

    /// Makes the group match `state`: creates it, or replaces gidNumber and memberUid.
    /// Running it twice changes nothing the second time.
    pub async fn sync_group(&self, state: &GroupState) -> Result<(), DirectoryError> {
        let dn = match state.place {
            GroupPlace::Groups => self.group_dn(&state.cn),
            GroupPlace::Resources => self.resource_group_dn(&state.cn),
        };
        let gid = state.gid_number.to_string();
        let members: HashSet<&str> = state.member_uids.iter().map(String::as_str).collect();
        let mut ldap = self.handle().await?;
        let outcome = self
            .operation(
                "modify",
                ldap.modify(
                    &dn,
                    vec![
                        Mod::Replace("gidNumber", HashSet::from([gid.as_str()])),
                        Mod::Replace("memberUid", members.clone()),
                    ],
                ),
            )
            .await?;
        match outcome.rc {
            0 => Ok(()),
            NO_SUCH_OBJECT => {
                let mut attributes = vec![
                    ("objectClass", HashSet::from(["top", "posixGroup"])),
                    ("cn", HashSet::from([state.cn.as_str()])),
                    ("gidNumber", HashSet::from([gid.as_str()])),
                ];
                if !members.is_empty() {
                    attributes.push(("memberUid", members));
                }
                let added = self.operation("add", ldap.add(&dn, attributes)).await?;
                added.success().map(|_| ()).map_err(|error| match error {
                    LdapError::LdapResult { result } => DirectoryError::refused(&result),
                    other => DirectoryError::Operation(other.to_string()),
                })
            }
            _ => Err(DirectoryError::refused(&outcome)),
        }
    }

    /// Removes a resource's group (retired and deleted by an admin, or renamed by a move),
    /// only if it still has the resource's gidNumber.
    pub async fn delete_resource_group(
        &self,
        cn: &str,
        gid_number: i64,
    ) -> Result<(), DirectoryError> {
        self.delete_entry_holding(
            &self.resource_group_dn(cn),
            "gidNumber",
            &gid_number.to_string(),
        )
        .await
    }

    /// Whether any entry under the base DN already uses this gidNumber.
    pub async fn gid_number_in_use(&self, number: i64) -> Result<bool, DirectoryError> {
        self.number_in_use("gidNumber", number).await
    }

    /// Whether any entry under the base DN already uses this uidNumber.
    pub async fn uid_number_in_use(&self, number: i64) -> Result<bool, DirectoryError> {
        self.number_in_use("uidNumber", number).await
    }

    async fn number_in_use(&self, attribute: &str, number: i64) -> Result<bool, DirectoryError> {
        let mut ldap = self.handle().await?;
        let filter = format!("({attribute}={})", ldap_escape(number.to_string()));
        Ok(self.first_match(&mut ldap, &filter).await?.is_some())
    }
}

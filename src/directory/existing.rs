//! Reading an existing directory for adoption: every posixAccount under the people base and
//! every posixGroup under the groups base, with paged searches (RFC 2696), so a directory
//! of any size is read whatever the server's size limit.

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Scope, SearchEntry};

use super::people::first;
use super::{Directory, DirectoryError, INDEX_PAGE};
use crate::domain::adoption::{ExistingGroup, ExistingPerson};

fn number(entry: &SearchEntry, attribute: &str) -> Option<i64> {
    first(entry, attribute)?.trim().parse().ok()
}

fn all(entry: &mut SearchEntry, attribute: &str) -> Vec<String> {
    entry.attrs.remove(attribute).unwrap_or_default()
}

impl Directory {
    /// Every entry under `base` matching `filter`, with `attributes`, read a page at a time
    /// and each turned into a `T` as it comes, so only the `T`s are held.
    async fn read_all<T>(
        &self,
        base: &str,
        filter: &str,
        attributes: Vec<&str>,
        mut convert: impl FnMut(SearchEntry) -> T,
    ) -> Result<Vec<T>, DirectoryError> {
        let mut ldap = self.handle().await?;
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(i32::try_from(INDEX_PAGE).unwrap_or(500))),
        ];
        let mut stream = self
            .operation(
                "search",
                ldap.streaming_search_with(adapters, base, Scope::Subtree, filter, attributes),
            )
            .await?;
        let mut entries = Vec::new();
        loop {
            match stream.next().await {
                Ok(Some(entry)) => entries.push(convert(SearchEntry::construct(entry))),
                Ok(None) => break,
                Err(error) => return Err(self.failed(error).await),
            }
        }
        let outcome = stream.finish().await;
        if outcome.rc != 0 {
            return Err(DirectoryError::refused(&outcome));
        }
        Ok(entries)
    }

    /// Every posixAccount under the people base.
    pub async fn existing_people(&self) -> Result<Vec<ExistingPerson>, DirectoryError> {
        self.read_all(
            &self.settings().people_dn,
            "(objectClass=posixAccount)",
            vec!["uid", "uidNumber", "gidNumber", "sn", "givenName", "mail"],
            |mut entry| {
                let uid = first(&entry, "uid").unwrap_or_default();
                ExistingPerson {
                    uid_number: number(&entry, "uidNumber"),
                    gid_number: number(&entry, "gidNumber"),
                    surname: first(&entry, "sn").unwrap_or_else(|| uid.clone()),
                    given_name: first(&entry, "givenName"),
                    mail: all(&mut entry, "mail"),
                    uid,
                    dn: entry.dn,
                }
            },
        )
        .await
    }

    /// Every posixGroup under the groups base, with `owner_attribute` (such as `owner` or
    /// `manager`) read as the group's owner.
    pub async fn existing_groups(
        &self,
        owner_attribute: &str,
    ) -> Result<Vec<ExistingGroup>, DirectoryError> {
        self.read_all(
            &self.settings().groups_dn,
            "(objectClass=posixGroup)",
            vec![
                "cn",
                "gidNumber",
                "memberUid",
                "description",
                owner_attribute,
            ],
            |mut entry| ExistingGroup {
                cn: first(&entry, "cn").unwrap_or_default(),
                gid_number: number(&entry, "gidNumber"),
                owner: first(&entry, owner_attribute),
                description: first(&entry, "description"),
                member_uids: all(&mut entry, "memberUid"),
                dn: entry.dn,
            },
        )
        .await
    }
}

impl Directory {
    /// Writes the password of an adopted entry, the one attribute Roster manages there
    /// (`None` removes it: the account is locked). Only while the entry still holds the
    /// adopted uidNumber, so an entry someone else made at that DN is never touched.
    pub async fn set_adopted_password(
        &self,
        dn: &str,
        uid_number: i64,
        password_hash: Option<&str>,
    ) -> Result<(), DirectoryError> {
        let mut ldap = self.handle().await?;
        let found = self
            .operation(
                "search",
                ldap.search(
                    dn,
                    Scope::Base,
                    "(objectClass=posixAccount)",
                    vec!["uidNumber"],
                ),
            )
            .await?;
        let theirs = found
            .0
            .into_iter()
            .next()
            .map(SearchEntry::construct)
            .and_then(|entry| first(&entry, "uidNumber"));
        if theirs.as_deref() != Some(uid_number.to_string().as_str()) {
            return Err(DirectoryError::Operation(format!(
                "{dn} is gone or no longer holds uidNumber {uid_number}; its password was not written, resolve by hand"
            )));
        }
        let value = password_hash.map(|hash| format!("{{CRYPT}}{hash}"));
        let values: std::collections::HashSet<&str> = value.iter().map(String::as_str).collect();
        let outcome = self
            .operation(
                "modify",
                ldap.modify(dn, vec![ldap3::Mod::Replace("userPassword", values)]),
            )
            .await?;
        if outcome.rc != 0 {
            return Err(DirectoryError::refused(&outcome));
        }
        Ok(())
    }
}

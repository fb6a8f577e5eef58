//! Reading Roster's containers (the people, groups and resources bases) for the LDAP drift
//! report: paged searches (RFC 2696) handed over a page at a time, so the report never
//! holds the whole directory; the existence of a batch of expected names; and removing an
//! entry Roster does not know.

use std::collections::HashSet;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Scope, SearchEntry, ldap_escape};

use super::accounts::LiveEntry;
use super::{Directory, DirectoryError, INDEX_PAGE};

/// LDAP result code 32: the entry does not exist.
const NO_SUCH_OBJECT: u32 = 32;

/// The attributes read from a person entry: the ones the portal owns, and its uid.
const PERSON_ATTRIBUTES: [&str; 12] = [
    "objectClass",
    "uid",
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
const GROUP_ATTRIBUTES: [&str; 4] = ["objectClass", "cn", "gidNumber", "memberUid"];
const PERSON_FILTER: &str = "(|(objectClass=posixAccount)(objectClass=inetOrgPerson))";
const GROUP_FILTER: &str = "(objectClass=posixGroup)";

/// One of the containers Roster writes under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    People,
    Groups,
    Resources,
}

/// An entry found under a container: its uid (people) or cn (groups) and attributes.
#[derive(Debug, Clone)]
pub struct ScannedEntry {
    pub dn: String,
    pub container: Container,
    /// The uid of a person, the cn of a group; `None` when the entry has none.
    pub name: Option<String>,
    pub attributes: LiveEntry,
}

/// Whether `dn` is strictly below `base` (DNs compared without case).
fn is_below(dn: &str, base: &str) -> bool {
    let dn = dn.to_ascii_lowercase();
    let base = base.to_ascii_lowercase();
    dn.len() > base.len() + 1 && dn.ends_with(&format!(",{base}"))
}

fn live_of(entry: SearchEntry) -> (String, LiveEntry) {
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
    (entry.dn, live)
}

/// The first value of `attribute` (any case of its name).
pub fn first_value(live: &LiveEntry, attribute: &str) -> Option<String> {
    live.iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
        .and_then(|(_, values)| values.first().cloned())
}

impl Directory {
    /// The containers to read: people, groups, and resources when they have their own.
    pub fn containers(&self) -> Vec<Container> {
        let settings = self.settings();
        if settings
            .resources_dn()
            .eq_ignore_ascii_case(&settings.groups_dn)
        {
            vec![Container::People, Container::Groups]
        } else {
            vec![Container::People, Container::Groups, Container::Resources]
        }
    }

    pub fn container_dn(&self, container: Container) -> &str {
        match container {
            Container::People => &self.settings().people_dn,
            Container::Groups => &self.settings().groups_dn,
            Container::Resources => self.settings().resources_dn(),
        }
    }

    /// The container `dn` is in, if it is below one of Roster's (the most specific one).
    pub fn container_of(&self, dn: &str) -> Option<Container> {
        self.containers()
            .into_iter()
            .filter(|container| is_below(dn, self.container_dn(*container)))
            .max_by_key(|container| self.container_dn(*container).len())
    }

    fn scanned(&self, container: Container, entry: SearchEntry) -> ScannedEntry {
        let (dn, attributes) = live_of(entry);
        let naming = match container {
            Container::People => "uid",
            Container::Groups | Container::Resources => "cn",
        };
        ScannedEntry {
            name: first_value(&attributes, naming),
            dn,
            container,
            attributes,
        }
    }

    /// Sends every person (or posixGroup) under `container` to `pages`, `INDEX_PAGE` at a
    /// time, through a paged search. Entries of a container nested inside this one are
    /// left to that container's own pass. Returns how many were sent.
    pub async fn scan_container(
        &self,
        container: Container,
        pages: tokio::sync::mpsc::Sender<Vec<ScannedEntry>>,
    ) -> Result<usize, DirectoryError> {
        let (filter, attributes) = match container {
            Container::People => (PERSON_FILTER, PERSON_ATTRIBUTES.to_vec()),
            Container::Groups | Container::Resources => (GROUP_FILTER, GROUP_ATTRIBUTES.to_vec()),
        };
        let mut ldap = self.handle().await?;
        let page_size = i32::try_from(INDEX_PAGE).unwrap_or(500);
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(page_size)),
        ];
        let mut stream = self
            .operation(
                "search",
                ldap.streaming_search_with(
                    adapters,
                    self.container_dn(container),
                    Scope::Subtree,
                    filter,
                    attributes,
                ),
            )
            .await?;
        let mut page = Vec::with_capacity(INDEX_PAGE);
        let mut sent = 0;
        loop {
            let entry = match stream.next().await {
                Ok(Some(entry)) => SearchEntry::construct(entry),
                Ok(None) => break,
                Err(error) => return Err(self.failed(error).await),
            };
            if self.container_of(&entry.dn) != Some(container) {
                continue;
            }
            page.push(self.scanned(container, entry));
            if page.len() == INDEX_PAGE {
                sent += page.len();
                let full = std::mem::replace(&mut page, Vec::with_capacity(INDEX_PAGE));
                if pages.send(full).await.is_err() {
                    // The receiver gave up (its database read failed); it reports why.
                    let _ = stream.finish().await;
                    return Ok(sent);
                }
            }
        }
        let outcome = stream.finish().await;
        if outcome.rc != 0 {
            return Err(DirectoryError::refused(&outcome));
        }
        sent += page.len();
        if !page.is_empty() {
            let _ = pages.send(page).await;
        }
        Ok(sent)
    }

    /// How many people (or posixGroups) `container` holds, counted through a paged search
    /// that reads no attributes.
    pub async fn count_entries(&self, container: Container) -> Result<usize, DirectoryError> {
        let filter = match container {
            Container::People => PERSON_FILTER,
            Container::Groups | Container::Resources => GROUP_FILTER,
        };
        let mut ldap = self.handle().await?;
        let page_size = i32::try_from(INDEX_PAGE).unwrap_or(500);
        let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(page_size)),
        ];
        let mut stream = self
            .operation(
                "search",
                ldap.streaming_search_with(
                    adapters,
                    self.container_dn(container),
                    Scope::Subtree,
                    filter,
                    vec!["1.1"],
                ),
            )
            .await?;
        let mut count = 0;
        loop {
            match stream.next().await {
                Ok(Some(entry)) => {
                    if self.container_of(&SearchEntry::construct(entry).dn) == Some(container) {
                        count += 1;
                    }
                }
                Ok(None) => break,
                Err(error) => return Err(self.failed(error).await),
            }
        }
        let outcome = stream.finish().await;
        if outcome.rc != 0 {
            return Err(DirectoryError::refused(&outcome));
        }
        Ok(count)
    }

    /// Which of `names` have their entry directly in `container` (`uid=<name>` for people,
    /// `cn=<name>` for groups), where the portal writes them.
    pub async fn names_present(
        &self,
        container: Container,
        names: &[String],
    ) -> Result<HashSet<String>, DirectoryError> {
        let mut present = HashSet::new();
        if names.is_empty() {
            return Ok(present);
        }
        let (naming, class) = match container {
            Container::People => ("uid", PERSON_FILTER),
            Container::Groups | Container::Resources => ("cn", GROUP_FILTER),
        };
        let alternatives: String = names
            .iter()
            .map(|name| format!("({naming}={})", ldap_escape(name.as_str())))
            .collect();
        let filter = format!("(&{class}(|{alternatives}))");
        let mut ldap = self.handle().await?;
        let result = self
            .operation(
                "search",
                ldap.search(
                    self.container_dn(container),
                    Scope::OneLevel,
                    &filter,
                    vec![naming],
                ),
            )
            .await?;
        if result.1.rc != 0 {
            return Err(DirectoryError::refused(&result.1));
        }
        for entry in result.0 {
            let entry = SearchEntry::construct(entry);
            // Multi-valued naming attributes: the one in the DN is the name.
            for value in entry.attrs.get(naming).into_iter().flatten() {
                present.insert(value.clone());
            }
        }
        Ok(present)
    }

    /// The entry at `dn` as the report reads it, or `None` when there is none or it is not
    /// below one of Roster's containers.
    pub async fn scanned_entry(&self, dn: &str) -> Result<Option<ScannedEntry>, DirectoryError> {
        let Some(container) = self.container_of(dn) else {
            return Ok(None);
        };
        let attributes = match container {
            Container::People => PERSON_ATTRIBUTES.to_vec(),
            Container::Groups | Container::Resources => GROUP_ATTRIBUTES.to_vec(),
        };
        let filter = match container {
            Container::People => PERSON_FILTER,
            Container::Groups | Container::Resources => GROUP_FILTER,
        };
        let mut ldap = self.handle().await?;
        let result = self
            .operation("search", ldap.search(dn, Scope::Base, filter, attributes))
            .await?;
        if result.1.rc == NO_SUCH_OBJECT {
            return Ok(None);
        }
        if result.1.rc != 0 {
            return Err(DirectoryError::refused(&result.1));
        }
        Ok(result
            .0
            .into_iter()
            .next()
            .map(|entry| self.scanned(container, SearchEntry::construct(entry))))
    }

    /// The group `cn=<cn>` in `container` (gidNumber, memberUid), or `None`.
    pub async fn group_entry(
        &self,
        container: Container,
        cn: &str,
    ) -> Result<Option<LiveEntry>, DirectoryError> {
        let dn = match container {
            Container::Resources => self.resource_group_dn(cn),
            Container::People | Container::Groups => self.group_dn(cn),
        };
        Ok(self.scanned_entry(&dn).await?.map(|entry| entry.attributes))
    }

    /// Deletes an entry Roster does not know, only while it is below one of Roster's
    /// containers (the caller checked, just before, that the portal does not know it).
    /// False when it was gone already. An entry with entries below it is refused by LDAP.
    pub async fn delete_unknown_entry(&self, dn: &str) -> Result<bool, DirectoryError> {
        if self.container_of(dn).is_none() {
            return Err(DirectoryError::Operation(format!(
                "{dn} is not below Roster's people, groups or resources base; not removed"
            )));
        }
        let mut ldap = self.handle().await?;
        let deleted = self.operation("delete", ldap.delete(dn)).await?;
        match deleted.rc {
            0 => Ok(true),
            NO_SUCH_OBJECT => Ok(false),
            _ => Err(DirectoryError::refused(&deleted)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_below;

    #[test]
    fn below_means_strictly_inside() {
        let base = "ou=people,dc=example,dc=org";
        assert!(is_below("uid=a,ou=people,dc=example,dc=org", base));
        assert!(is_below("UID=a,OU=People,dc=example,dc=org", base));
        assert!(!is_below("ou=people,dc=example,dc=org", base));
        assert!(!is_below("uid=a,ou=groups,dc=example,dc=org", base));
        assert!(!is_below("uid=a,xou=people,dc=example,dc=org", base));
    }
}

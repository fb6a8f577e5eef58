//! Reading the people base for the local people index: a paged search (RFC 2696) of every
//! person, or of those changed since a `modifyTimestamp`, handed over a page at a time.
//!
//! Chosen over RFC 4533 content synchronisation (which ldap3 can speak): refreshOnly
//! syncrepl needs the syncprov overlay on the server, which sites that are not replicas
//! rarely run, while `modifyTimestamp` is kept by every LDAP server. Deletions are found by
//! the periodic full pass instead.

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Scope, SearchEntry, ldap_escape};

use super::people::first;
use super::{Directory, DirectoryError};
use crate::domain::search_key::IndexedPerson;

/// Entries per page of the paged search, and per batch handed over.
pub const INDEX_PAGE: usize = 500;

impl Directory {
    /// Sends every person under the people base (or those modified at or after `since`,
    /// a generalized time) to `pages`, `INDEX_PAGE` at a time. Returns how many were sent.
    pub async fn index_people(
        &self,
        since: Option<&str>,
        pages: tokio::sync::mpsc::Sender<Vec<IndexedPerson>>,
    ) -> Result<usize, DirectoryError> {
        let filter = match since {
            Some(since) => format!(
                "(&(objectClass=inetOrgPerson)(modifyTimestamp>={}))",
                ldap_escape(since)
            ),
            None => "(objectClass=inetOrgPerson)".to_string(),
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
                    &self.settings().people_dn,
                    Scope::Subtree,
                    &filter,
                    vec!["uid", "sn", "givenName", "mail", "modifyTimestamp"],
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
            let (Some(uid), Some(surname)) = (first(&entry, "uid"), first(&entry, "sn")) else {
                continue;
            };
            page.push(IndexedPerson {
                uid,
                surname,
                given_name: first(&entry, "givenName"),
                mail: first(&entry, "mail"),
                modified: first(&entry, "modifyTimestamp").unwrap_or_default(),
                dn: entry.dn,
            });
            if page.len() == INDEX_PAGE {
                sent += page.len();
                let full = std::mem::replace(&mut page, Vec::with_capacity(INDEX_PAGE));
                if pages.send(full).await.is_err() {
                    // The receiver gave up (its database write failed); it reports why.
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
}

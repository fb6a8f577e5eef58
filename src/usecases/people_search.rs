//! Finding people in the directory (the PI's "find people" and the API's `/people`): from
//! the local people index, so a search never loads the site's LDAP server. While the index
//! has never been loaded, LDAP is searched instead, and the answer says so.

use crate::context::AppContext;
use crate::directory::{DirectoryError, DirectoryPerson};
use crate::domain::SearchText;
use crate::domain::search_key::fold;
use crate::store::StoreError;

/// Where the answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Index,
    /// The index was never loaded: LDAP itself was searched.
    Directory,
}

pub struct PeopleFound {
    /// Sorted by surname, then given name, then uid.
    pub people: Vec<DirectoryPerson>,
    /// More matched than the limit.
    pub truncated: bool,
    pub source: Source,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// People whose surname, given name, mail or uid contains `text`, ignoring case, accents,
/// apostrophes and hyphens; at most `limit`.
pub async fn search_people(
    ctx: &AppContext,
    text: &SearchText,
    limit: i32,
) -> Result<PeopleFound, SearchError> {
    if ctx.store.index_state().await?.loaded_at.is_none() {
        let results = ctx.directory.search_people(text, limit).await?;
        return Ok(PeopleFound {
            people: results.people,
            truncated: results.truncated,
            source: Source::Directory,
        });
    }
    let folded = fold(text.as_str());
    if folded.is_empty() {
        // Only apostrophes and hyphens: nothing is left to look for.
        return Ok(PeopleFound {
            people: Vec::new(),
            truncated: false,
            source: Source::Index,
        });
    }
    let (people, truncated) = ctx.store.search_index(&folded, i64::from(limit)).await?;
    Ok(PeopleFound {
        people: people
            .into_iter()
            .map(|person| DirectoryPerson {
                dn: person.dn,
                uid: person.uid,
                surname: person.surname,
                given_name: person.given_name,
                email: person.mail,
            })
            .collect(),
        truncated,
        source: Source::Index,
    })
}

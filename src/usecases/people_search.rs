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
/// apostrophes and hyphens: the first `limit` (the API's answer).
pub async fn search_people(
    ctx: &AppContext,
    text: &SearchText,
    limit: i32,
) -> Result<PeopleFound, SearchError> {
    let found = search_people_window(ctx, text, limit, (0, limit), None).await?;
    Ok(found.found)
}

/// One page of a search: `found.people` holds the `count` from `offset` among the first
/// `limit` matches, `total` how many of those there are, and `members` the uids among
/// them who are members of the organisation asked about.
pub struct PeopleWindow {
    pub found: PeopleFound,
    pub total: usize,
    pub members: Vec<String>,
}

pub async fn search_people_window(
    ctx: &AppContext,
    text: &SearchText,
    limit: i32,
    (offset, count): (i32, i32),
    member_of: Option<&str>,
) -> Result<PeopleWindow, SearchError> {
    let skip = usize::try_from(offset).unwrap_or(0);
    let take = usize::try_from(count).unwrap_or(0);
    if !ctx.store.index_loaded().await? {
        let results = ctx.directory.search_people(text, limit).await?;
        let total = results.people.len();
        let people: Vec<DirectoryPerson> =
            results.people.into_iter().skip(skip).take(take).collect();
        let members = members_shown(ctx, member_of, &people).await?;
        return Ok(PeopleWindow {
            total,
            members,
            found: PeopleFound {
                people,
                truncated: results.truncated,
                source: Source::Directory,
            },
        });
    }
    let folded = fold(text.as_str());
    if folded.is_empty() {
        // Only apostrophes and hyphens: nothing is left to look for.
        return Ok(PeopleWindow {
            total: 0,
            members: Vec::new(),
            found: PeopleFound {
                people: Vec::new(),
                truncated: false,
                source: Source::Index,
            },
        });
    }
    let window = ctx
        .store
        .search_index(
            &folded,
            i64::from(limit),
            (i64::from(offset), i64::from(count)),
            member_of,
        )
        .await?;
    let people: Vec<DirectoryPerson> = window
        .people
        .into_iter()
        .map(|person| DirectoryPerson {
            dn: person.dn,
            uid: person.uid,
            surname: person.surname,
            given_name: person.given_name,
            email: person.mail,
        })
        .collect();
    let members = match window.members {
        Some(members) => members,
        None => members_shown(ctx, member_of, &people).await?,
    };
    Ok(PeopleWindow {
        total: usize::try_from(window.total).unwrap_or(0),
        members,
        found: PeopleFound {
            people,
            truncated: window.truncated,
            source: Source::Index,
        },
    })
}

/// The uids among `people` who are members of `member_of` (none without one).
async fn members_shown(
    ctx: &AppContext,
    member_of: Option<&str>,
    people: &[DirectoryPerson],
) -> Result<Vec<String>, SearchError> {
    let Some(organisation) = member_of else {
        return Ok(Vec::new());
    };
    let uids: Vec<&str> = people.iter().map(|person| person.uid.as_str()).collect();
    Ok(ctx.store.members_among(organisation, &uids).await?)
}

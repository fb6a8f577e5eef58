//! Searching people in the directory.

use ldap3::{Scope, SearchEntry, SearchOptions, ldap_escape};

use super::{Directory, DirectoryError};
use crate::domain::SearchText;

/// LDAP result code 4: more entries matched than the size limit allows.
const SIZE_LIMIT_EXCEEDED: u32 = 4;

#[derive(Debug, Clone)]
pub struct DirectoryPerson {
    pub dn: String,
    pub uid: String,
    pub surname: String,
    pub given_name: Option<String>,
    pub email: Option<String>,
}

impl DirectoryPerson {
    pub fn display_name(&self) -> String {
        match &self.given_name {
            Some(given) => format!("{given} {}", self.surname),
            None => self.surname.clone(),
        }
    }
}

pub struct SearchResults {
    /// Sorted by surname, then given name.
    pub people: Vec<DirectoryPerson>,
    /// More people matched than `limit`; the person should narrow the search.
    pub truncated: bool,
}

pub(super) fn first(entry: &SearchEntry, attribute: &str) -> Option<String> {
    entry
        .attrs
        .get(attribute)
        .and_then(|values| values.first())
        .cloned()
}

fn person_of(entry: SearchEntry) -> Option<DirectoryPerson> {
    Some(DirectoryPerson {
        uid: first(&entry, "uid")?,
        surname: first(&entry, "sn")?,
        given_name: first(&entry, "givenName"),
        email: first(&entry, "mail"),
        dn: entry.dn,
    })
}

/// The filter for a people search: substring on surname, given name, email or uid, with
/// the text escaped so it can only ever be a value.
pub(crate) fn people_filter(text: &SearchText) -> String {
    let value = ldap_escape(text.as_str());
    format!(
        "(&(objectClass=inetOrgPerson)(|(sn=*{value}*)(givenName=*{value}*)(mail=*{value}*)(uid=*{value}*)))"
    )
}

impl Directory {
    /// People whose surname, given name, email or uid contains `text` (case-insensitive:
    /// these attributes compare ignoring case), at most `limit` of them.
    pub async fn search_people(
        &self,
        text: &SearchText,
        limit: i32,
    ) -> Result<SearchResults, DirectoryError> {
        let mut ldap = self.handle().await?;
        let result = self
            .operation(
                "search",
                ldap.with_search_options(SearchOptions::new().sizelimit(limit))
                    .search(
                        &self.settings().people_dn,
                        Scope::Subtree,
                        &people_filter(text),
                        vec!["uid", "sn", "givenName", "mail"],
                    ),
            )
            .await?;
        let truncated = result.1.rc == SIZE_LIMIT_EXCEEDED;
        if result.1.rc != 0 && !truncated {
            return Err(DirectoryError::Operation(result.1.to_string()));
        }
        let mut people: Vec<DirectoryPerson> = result
            .0
            .into_iter()
            .map(SearchEntry::construct)
            .filter_map(person_of)
            .collect();
        people.sort_by(|a, b| {
            (
                a.surname.to_lowercase(),
                a.given_name.as_deref().map(str::to_lowercase),
                &a.uid,
            )
                .cmp(&(
                    b.surname.to_lowercase(),
                    b.given_name.as_deref().map(str::to_lowercase),
                    &b.uid,
                ))
        });
        Ok(SearchResults { people, truncated })
    }

    /// The person with exactly this uid, if the directory has one.
    pub async fn person_by_uid(
        &self,
        uid: &str,
    ) -> Result<Option<DirectoryPerson>, DirectoryError> {
        let mut ldap = self.handle().await?;
        let filter = format!("(&(objectClass=inetOrgPerson)(uid={}))", ldap_escape(uid));
        let result = self
            .operation(
                "search",
                ldap.with_search_options(SearchOptions::new().sizelimit(2))
                    .search(
                        &self.settings().people_dn,
                        Scope::Subtree,
                        &filter,
                        vec!["uid", "sn", "givenName", "mail"],
                    ),
            )
            .await?;
        let (entries, outcome) = (result.0, result.1);
        if outcome.rc != 0 {
            return Err(DirectoryError::Operation(outcome.to_string()));
        }
        let mut people = entries
            .into_iter()
            .map(SearchEntry::construct)
            .filter_map(person_of);
        match (people.next(), people.next()) {
            (Some(person), None) => Ok(Some(person)),
            (None, _) => Ok(None),
            (Some(_), Some(_)) => Err(DirectoryError::Operation(format!(
                "uid {uid:?} is not unique in the directory"
            ))),
        }
    }
}

/// Which attribute [`Directory::people_with`] matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonKey {
    Uid,
    Mail,
}

/// Values looked up in one LDAP search; more are split over several.
const LOOKUP_CHUNK: usize = 200;

impl Directory {
    /// The people whose uid (or mail) is one of `values`, in a few searches rather than
    /// one per value (batch membership changes name up to a thousand people).
    pub async fn people_with(
        &self,
        key: PersonKey,
        values: &[&str],
    ) -> Result<Vec<DirectoryPerson>, DirectoryError> {
        let attribute = match key {
            PersonKey::Uid => "uid",
            PersonKey::Mail => "mail",
        };
        let mut found = Vec::new();
        for chunk in values.chunks(LOOKUP_CHUNK) {
            let alternatives: String = chunk
                .iter()
                .map(|value| format!("({attribute}={})", ldap_escape(*value)))
                .collect();
            let filter = format!("(&(objectClass=inetOrgPerson)(|{alternatives}))");
            let mut ldap = self.handle().await?;
            let result = self
                .operation(
                    "search",
                    ldap.search(
                        &self.settings().people_dn,
                        Scope::Subtree,
                        &filter,
                        vec!["uid", "sn", "givenName", "mail"],
                    ),
                )
                .await?;
            let (entries, outcome) = (result.0, result.1);
            if outcome.rc != 0 {
                return Err(DirectoryError::Operation(outcome.to_string()));
            }
            found.extend(
                entries
                    .into_iter()
                    .map(SearchEntry::construct)
                    .filter_map(person_of),
            );
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_stays_a_value() -> Result<(), crate::domain::FieldError> {
        let text = SearchText::parse("*)(uid=*")?
            .ok_or_else(|| crate::domain::FieldError::new("q", "empty"))?;
        let filter = people_filter(&text);
        assert_eq!(
            filter,
            "(&(objectClass=inetOrgPerson)(|(sn=*\\2a\\29\\28uid=\\2a*)(givenName=*\\2a\\29\\28uid=\\2a*)(mail=*\\2a\\29\\28uid=\\2a*)(uid=*\\2a\\29\\28uid=\\2a*)))"
        );
        Ok(())
    }
}

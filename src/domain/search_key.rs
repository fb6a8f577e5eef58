//! Folded search keys: what people type is compared with names and addresses after the
//! same folding, so "Muller" finds Müller, "nunez" Nuñez and "osullivan" O'Sullivan.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Unicode NFKD with combining marks removed, lowercased, and apostrophes and hyphens
/// (ASCII and typographic) dropped.
pub fn fold(text: &str) -> String {
    text.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .filter(|c| !matches!(c, '\'' | '’' | 'ʼ' | '‘' | '-' | '‐' | '‑' | '–'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// A person of the directory as the local people index keeps them: read from LDAP by
/// `directory`, stored and searched by `store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedPerson {
    pub dn: String,
    pub uid: String,
    pub surname: String,
    pub given_name: Option<String>,
    pub mail: Option<String>,
    /// `modifyTimestamp` (generalized time) when read from LDAP; empty for the portal's
    /// own writes, or when the server did not send it.
    pub modified: String,
}

/// Separates the attributes inside one search key: a search text never holds control
/// characters (`SearchText`), so a match can never span two attributes.
pub const KEY_SEPARATOR: char = '\n';

/// The folded key a directory entry is searched by: surname, given name, mail and uid.
pub fn person_key(
    surname: &str,
    given_name: Option<&str>,
    mail: Option<&str>,
    uid: &str,
) -> String {
    [surname, given_name.unwrap_or(""), mail.unwrap_or(""), uid]
        .iter()
        .map(|part| fold(part))
        .collect::<Vec<_>>()
        .join(&KEY_SEPARATOR.to_string())
}

/// The order of directory results: surname, then given name (none first), then uid, each
/// lowercased as the LDAP search's sort does.
pub fn person_sort_key(surname: &str, given_name: Option<&str>, uid: &str) -> String {
    // \u{1} before no given name and \u{2} before one keep `None < Some` (PostgreSQL text
    // cannot hold \u{0}); \u{1f} ends each part, below any printable character.
    let given = match given_name {
        None => "\u{1}".to_string(),
        Some(given) => format!("\u{2}{}", given.to_lowercase()),
    };
    format!("{}\u{1f}{given}\u{1f}{uid}", surname.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_apostrophes_and_hyphens_fold_away() {
        assert_eq!(fold("Müller"), "muller");
        assert_eq!(fold("Nuñez"), "nunez");
        assert_eq!(fold("O'Sullivan"), "osullivan");
        assert_eq!(fold("O’Sullivan"), "osullivan");
        assert_eq!(fold("Zoë"), "zoe");
        assert_eq!(fold("Jean-Luc"), "jeanluc");
        assert_eq!(fold("ÅNGSTRÖM"), "angstrom");
        // A query is folded the same way, so "Müller" still finds Muller.
        assert!(fold("Muller").contains(&fold("Müller")));
    }

    #[test]
    fn a_match_cannot_span_two_attributes() {
        let key = person_key("Smith", Some("Ann"), Some("ann@example.org"), "asmith");
        assert_eq!(key, "smith\nann\nann@example.org\nasmith");
        assert!(!key.contains("smithann"));
    }

    #[test]
    fn people_without_a_given_name_sort_first_as_in_the_ldap_search() {
        let without = person_sort_key("Smith", None, "zz");
        let with = person_sort_key("Smith", Some("Ann"), "aa");
        assert!(without < with);
        assert!(
            person_sort_key("Smith", Some("Ann"), "a") < person_sort_key("Smith", Some("Bob"), "a")
        );
        assert!(
            person_sort_key("Smith", Some("Zed"), "a") < person_sort_key("Smithers", None, "a")
        );
    }
}

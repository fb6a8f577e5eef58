use super::FieldError;

/// A POSIX login name: lowercase, starts with a letter, then letters, digits, `_` or `-`,
/// at most 32 characters, and not a reserved system name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PosixUsername(String);

impl PosixUsername {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        const FIELD: &str = "username";
        let value = input.trim();
        if value.is_empty() {
            return Err(FieldError::new(FIELD, "Choose a username."));
        }
        if value.chars().count() > 32 {
            return Err(FieldError::new(FIELD, "Use at most 32 characters."));
        }
        if value.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(FieldError::new(FIELD, "Use lowercase letters only."));
        }
        let mut chars = value.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
            return Err(FieldError::new(FIELD, "Start with a letter (a to z)."));
        }
        if !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-') {
            return Err(FieldError::new(
                FIELD,
                "Use only letters a to z, digits, - and _ (no spaces or other characters).",
            ));
        }
        if super::reserved_names::is_reserved_system_name(value) {
            return Err(FieldError::new(
                FIELD,
                "This name is reserved for the system. Choose another.",
            ));
        }
        Ok(Self(value.to_string()))
    }

    /// A suggestion from a person's names: first letter of the given name plus the
    /// surname, reduced to what a username allows (e.g. "Marie Curie" → "mcurie").
    pub fn suggest(given_name: Option<&str>, surname: &str) -> Option<Self> {
        let ascii = |text: &str| -> String {
            text.chars()
                .flat_map(fold_to_ascii)
                .filter(|c| c.is_ascii_alphanumeric())
                .map(|c| c.to_ascii_lowercase())
                .collect()
        };
        let initial: String = given_name
            .map(ascii)
            .unwrap_or_default()
            .chars()
            .take(1)
            .collect();
        let mut candidate = format!("{initial}{}", ascii(surname));
        candidate = candidate
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .to_string();
        candidate.truncate(28);
        Self::parse(&candidate).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PosixUsername {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Common European letters to their plain ASCII spelling, for username suggestions.
fn fold_to_ascii(c: char) -> Vec<char> {
    let plain: &str = match c {
        'à' | 'á' | 'â' | 'ã' | 'å' | 'ā' | 'ą' | 'À' | 'Á' | 'Â' | 'Ã' | 'Å' => "a",
        'ä' | 'Ä' | 'æ' | 'Æ' => "ae",
        'ç' | 'ć' | 'č' | 'Ç' | 'Ć' | 'Č' => "c",
        'è' | 'é' | 'ê' | 'ë' | 'ę' | 'ě' | 'È' | 'É' | 'Ê' | 'Ë' => "e",
        'ì' | 'í' | 'î' | 'ï' | 'ı' | 'Ì' | 'Í' | 'Î' | 'Ï' | 'İ' => "i",
        'ñ' | 'ń' | 'ň' | 'Ñ' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ø' => "o",
        'ö' | 'Ö' | 'œ' | 'Œ' => "oe",
        'ù' | 'ú' | 'û' | 'ů' | 'Ù' | 'Ú' | 'Û' => "u",
        'ü' | 'Ü' => "ue",
        'ß' => "ss",
        'ş' | 'ś' | 'š' | 'Ş' | 'Ś' | 'Š' => "s",
        'ł' | 'Ł' => "l",
        'ž' | 'ź' | 'ż' | 'Ž' | 'Ź' | 'Ż' => "z",
        'ý' | 'ÿ' | 'Ý' => "y",
        'ř' | 'Ř' => "r",
        'ğ' | 'Ğ' => "g",
        other => return vec![other],
    };
    plain.chars().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_posix_rules_with_clear_reasons() {
        assert!(PosixUsername::parse("mcurie").is_ok());
        assert!(PosixUsername::parse("a_b-9").is_ok());
        let reason = |input: &str| PosixUsername::parse(input).err().map(|e| e.message);
        assert_eq!(
            reason("root").as_deref(),
            Some("This name is reserved for the system. Choose another.")
        );
        assert_eq!(
            reason("Alice").as_deref(),
            Some("Use lowercase letters only.")
        );
        assert_eq!(
            reason("a b").as_deref(),
            Some("Use only letters a to z, digits, - and _ (no spaces or other characters).")
        );
        assert_eq!(
            reason("x;rm").as_deref(),
            Some("Use only letters a to z, digits, - and _ (no spaces or other characters).")
        );
        assert_eq!(
            reason("../").as_deref(),
            Some("Start with a letter (a to z).")
        );
        assert_eq!(
            reason(&"a".repeat(40)).as_deref(),
            Some("Use at most 32 characters.")
        );
        assert_eq!(
            reason("9lives").as_deref(),
            Some("Start with a letter (a to z).")
        );
    }

    #[test]
    fn suggestions_come_from_the_names() {
        let suggest = |given, surname| PosixUsername::suggest(given, surname).map(|u| u.0);
        assert_eq!(suggest(Some("Marie"), "Curie").as_deref(), Some("mcurie"));
        assert_eq!(
            suggest(Some("Anders"), "Ångström").as_deref(),
            Some("aangstroem")
        );
        assert_eq!(suggest(None, "O'Brien").as_deref(), Some("obrien"));
        assert_eq!(
            suggest(Some("Ada"), "van der Berg").as_deref(),
            Some("avanderberg")
        );
        assert_eq!(suggest(None, "李").as_deref(), None);
    }
}

/// A username someone already has, in the portal or in an adopted directory: looser than
/// [`PosixUsername`] (directories hold names the portal would not hand out), but never
/// anything that could be more than a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExistingUsername(String);

impl ExistingUsername {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let value = input.trim();
        let valid = !value.is_empty()
            && value.len() <= 64
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if valid {
            Ok(Self(value.to_string()))
        } else {
            Err(FieldError::new(
                "username",
                "A username is 1 to 64 letters, digits, dots, hyphens or underscores.",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

use super::FieldError;

/// A surname or given name: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(field: &'static str, input: &str) -> Result<Self, FieldError> {
        let value = input.trim();
        if value.is_empty() {
            return Err(FieldError::new(field, "This field is required."));
        }
        if value.chars().count() > 100 {
            return Err(FieldError::new(field, "Use at most 100 characters."));
        }
        if value.chars().any(char::is_control) {
            return Err(FieldError::new(
                field,
                "Remove line breaks and control characters.",
            ));
        }
        Ok(Self(value.to_string()))
    }

    /// An optional name: blank input means "none".
    pub fn parse_optional(field: &'static str, input: &str) -> Result<Option<Self>, FieldError> {
        if input.trim().is_empty() {
            Ok(None)
        } else {
            Self::parse(field, input).map(Some)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PersonName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person's name as pages and mails show it: given name first, when there is one.
pub fn full_name(given_name: Option<&str>, surname: &str) -> String {
    match given_name {
        Some(given) => format!("{given} {surname}"),
        None => surname.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_unicode_names_and_refuses_blank_long_or_control() {
        assert_eq!(
            PersonName::parse("surname", " Ångström ").map(|n| n.0),
            Ok("Ångström".into())
        );
        assert!(PersonName::parse("surname", "   ").is_err());
        assert!(PersonName::parse("surname", &"x".repeat(101)).is_err());
        assert!(PersonName::parse("surname", "a\nb").is_err());
        assert_eq!(PersonName::parse_optional("given_name", " "), Ok(None));
    }
}

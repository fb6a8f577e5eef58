use super::FieldError;

/// What a person types to sign in: their email address or their POSIX username.
/// Lookups are case-insensitive, so it is kept lowercased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginName(String);

impl LoginName {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let value = input.trim();
        if value.is_empty() {
            return Err(FieldError::new(
                "login",
                "Enter your email address or username.",
            ));
        }
        if value.len() > 254 || value.chars().any(char::is_control) {
            return Err(FieldError::new(
                "login",
                "That is not an email address or username.",
            ));
        }
        Ok(Self(value.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_email(&self) -> bool {
        self.0.contains('@')
    }
}

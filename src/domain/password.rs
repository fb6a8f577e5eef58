use super::FieldError;

/// bcrypt only reads the first 72 bytes; longer passwords would be silently truncated.
const MAX_BYTES: usize = 72;
const MIN_CHARS: usize = 12;

/// A password someone has chosen, checked against the policy (not yet hashed).
#[derive(Clone)]
pub struct NewPassword(String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

/// The words of a person a password must not contain: names, email and its local part,
/// username.
pub fn personal_words(
    surname: &str,
    given_name: Option<&str>,
    email: &str,
    username: Option<&str>,
) -> Vec<String> {
    let mut words = vec![surname.to_string(), email.to_string()];
    words.extend(email.split('@').next().map(str::to_string));
    words.extend(given_name.map(str::to_string));
    words.extend(username.map(str::to_string));
    words
}

impl NewPassword {
    /// `context` holds the person's names and email: a password containing one is refused.
    pub fn parse(password: &str, confirmation: &str, context: &[&str]) -> Result<Self, FieldError> {
        const FIELD: &str = "password";
        if password.chars().count() < MIN_CHARS {
            return Err(FieldError::new(
                FIELD,
                format!("Use at least {MIN_CHARS} characters."),
            ));
        }
        if password.len() > MAX_BYTES {
            return Err(FieldError::new(
                FIELD,
                format!("Use at most {MAX_BYTES} bytes (about {MAX_BYTES} plain letters)."),
            ));
        }
        let lowered = password.to_lowercase();
        if context
            .iter()
            .map(|part| part.trim().to_lowercase())
            .filter(|part| part.chars().count() >= 3)
            .any(|part| lowered.contains(&part))
        {
            return Err(FieldError::new(
                FIELD,
                "Do not use your name or email address in your password.",
            ));
        }
        // zxcvbn estimates guesses from dictionaries, keyboard patterns and the person's own
        // names; below "three" (10^10 guesses) is refused.
        if zxcvbn::zxcvbn(password, context).score() < zxcvbn::Score::Three {
            return Err(FieldError::new(
                FIELD,
                "This password is too easy to guess. Use a longer one: several unrelated words work well.",
            ));
        }
        if password != confirmation {
            return Err(FieldError::new(
                "password_confirmation",
                "The two passwords do not match.",
            ));
        }
        Ok(Self(password.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_messages_name_the_problem() {
        let field = |p: &str, c: &str| {
            NewPassword::parse(p, c, &["Lovelace", "ada@example.org"])
                .err()
                .map(|e| e.field)
        };
        assert_eq!(field("short", "short"), Some("password"));
        assert_eq!(field(&"x".repeat(73), &"x".repeat(73)), Some("password"));
        assert_eq!(
            field("my-lovelace-pass", "my-lovelace-pass"),
            Some("password")
        );
        assert_eq!(
            field("correct horse battery", "correct horse battery!"),
            Some("password_confirmation")
        );
        assert_eq!(
            field("correct horse battery", "correct horse battery"),
            None
        );
        // Long enough, but guessable.
        for weak in [
            "password1234",
            "qwertyuiop123",
            "aaaaaaaaaaaa",
            "123456789012",
        ] {
            assert_eq!(field(weak, weak), Some("password"), "{weak}");
        }
    }
}

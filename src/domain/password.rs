use super::FieldError;

/// bcrypt only reads the first 72 bytes; longer passwords would be silently truncated.
pub const MAX_PASSWORD_BYTES: usize = 72;
const MAX_BYTES: usize = MAX_PASSWORD_BYTES;
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
                format!(
                    "This password is {} bytes long; the limit is {MAX_BYTES} bytes, because bcrypt ignores everything after them. Plain letters take 1 byte each, but accented, Cyrillic or Greek letters take 2 and most other scripts 3: shorten it.",
                    password.len()
                ),
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
        if super::common_passwords::is_common_password(password) {
            return Err(FieldError::new(
                FIELD,
                "This is one of the most common passwords (perhaps with a few digits or symbols added), which attackers try first. Choose another: several unrelated words work well.",
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
            field("plum tractor violin 42", "plum tractor violin 43"),
            Some("password_confirmation")
        );
        assert_eq!(
            field("plum tractor violin 42", "plum tractor violin 42"),
            None
        );
        // Scored well by zxcvbn, but on every guesser's list.
        for common in [
            "correct horse battery staple",
            "Summer2023!!",
            "Monkey123456!",
        ] {
            assert_eq!(field(common, common), Some("password"), "{common}");
        }
        // 60 Cyrillic letters are 120 bytes: refused, with the reason.
        let cyrillic = "пароль".repeat(10);
        let message = NewPassword::parse(&cyrillic, &cyrillic, &[])
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(message.contains("120 bytes"), "{message}");
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

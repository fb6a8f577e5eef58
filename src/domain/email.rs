use super::FieldError;

/// An email address as people type it, checked for shape. The domain part is lowercased
/// (it is case-insensitive); the local part is kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

const FIELD: &str = "email";

impl Email {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let value = input.trim();
        let error = |message: &str| Err(FieldError::new(FIELD, message));
        if value.is_empty() {
            return error("Enter an email address.");
        }
        if value.len() > 254 {
            return error("An email address has at most 254 characters.");
        }
        // LDAP's `mail` is an IA5String (ASCII), and look-alike letters (a Cyrillic "а" in
        // "exаmple.org", full-width letters) would let one address pose as another.
        if !value.is_ascii() {
            return error(
                "Use an address made of plain ASCII letters, digits and punctuation: the directory cannot store other characters, and look-alike letters are refused. For an internationalised domain, type its xn-- form.",
            );
        }
        let Some((local, domain)) = value.rsplit_once('@') else {
            return error("Enter an email address like name@example.org.");
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return error("Enter an email address like name@example.org.");
        }
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        let local_ok = local
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && !"<>()[]\\,;:\"".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !domain_ok || !local_ok {
            return error("Enter an email address like name@example.org.");
        }
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used for lookups and uniqueness: fully lowercased.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses_and_lowercases_the_domain() {
        let email = Email::parse("  Ada.Lovelace+hpc@Example.ORG ").map(|e| e.0);
        assert_eq!(email, Ok("Ada.Lovelace+hpc@example.org".to_string()));
    }

    #[test]
    fn punycode_domains_are_accepted() {
        assert!(Email::parse("ada@xn--bcher-kva.example").is_ok());
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "ada@@example.org",
            "a b@example.org",
            "ada@exa mple.org",
            "ada@example..org",
            "<ada>@example.org",
            "ada@exam\nple.org",
            "ada\u{0}@example.org",
            "*)(uid=*@example.org",
            "admin@ex\u{0430}mple.org",
            "\u{ff41}dmin@example.org",
            "ada@b\u{fc}cher.example",
            "ad\u{e0}@example.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(Email::parse(&format!("{}@example.org", "a".repeat(65))).is_err());
    }
}

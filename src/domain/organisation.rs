use super::FieldError;

/// A POSIX group name used as an organisation's short name: lowercase, starts with a
/// letter, then letters, digits, `-` or `_`, at most 32 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortName(String);

impl ShortName {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        const FIELD: &str = "short_name";
        let value = input.trim();
        if value.is_empty() {
            return Err(FieldError::new(FIELD, "Enter a short name."));
        }
        if value.len() > 32 {
            return Err(FieldError::new(FIELD, "Use at most 32 characters."));
        }
        let mut chars = value.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !starts_with_letter || !rest_ok {
            return Err(FieldError::new(
                FIELD,
                "Use lowercase letters, digits, - and _, starting with a letter (it becomes the POSIX group name).",
            ));
        }
        if super::reserved_names::is_reserved_system_name(value) {
            return Err(FieldError::new(
                FIELD,
                "This name belongs to a system group (such as wheel, sudo or docker) or a system account. Choose another.",
            ));
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ShortName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An organisation's display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganisationName(String);

impl OrganisationName {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let value = input.trim();
        if value.is_empty() {
            return Err(FieldError::new("name", "Enter the organisation's name."));
        }
        if value.chars().count() > 200 || value.chars().any(char::is_control) {
            return Err(FieldError::new(
                "name",
                "Use at most 200 characters on one line.",
            ));
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free text describing an organisation; may be empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let value = input.trim();
        if value.chars().count() > 2000 {
            return Err(FieldError::new(
                "description",
                "Use at most 2,000 characters.",
            ));
        }
        if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
        {
            return Err(FieldError::new("description", "Remove control characters."));
        }
        Ok(Self(value.replace("\r\n", "\n")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The last day of a membership, as typed in a date field (`YYYY-MM-DD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EndDate(time::Date);

impl EndDate {
    /// Blank means "no end date". A date in the past is refused against `today`.
    pub fn parse_optional(input: &str, today: time::Date) -> Result<Option<Self>, FieldError> {
        const FIELD: &str = "ends_on";
        let value = input.trim();
        if value.is_empty() {
            return Ok(None);
        }
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let date = time::Date::parse(value, &format).map_err(|_| {
            FieldError::new(FIELD, "Enter the date as YYYY-MM-DD, e.g. 2027-03-31.")
        })?;
        if date < today {
            return Err(FieldError::new(
                FIELD,
                "The end date cannot be in the past.",
            ));
        }
        Ok(Some(Self(date)))
    }

    /// From storage, where it was written by [`EndDate::to_iso`].
    pub fn from_iso(value: &str) -> Option<Self> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        time::Date::parse(value, &format).ok().map(Self)
    }

    pub fn from_date(date: time::Date) -> Self {
        Self(date)
    }

    /// The last second of this day (UTC), as Unix time.
    pub fn end_of_day_unix(self) -> i64 {
        self.0
            .with_hms(23, 59, 59)
            .map(|at| at.assume_utc().unix_timestamp())
            .unwrap_or_default()
    }

    pub fn to_iso(self) -> String {
        let (year, month, day) = (self.0.year(), u8::from(self.0.month()), self.0.day());
        format!("{year:04}-{month:02}-{day:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_follow_posix_group_rules() {
        for good in ["astro", "lab-2", "a", "hpc_team", &"x".repeat(32)] {
            assert!(ShortName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Astro",
            "2lab",
            "-lab",
            "lab team",
            "lab;rm",
            "../x",
            "λ",
            &"x".repeat(33),
            "*)(cn=*",
        ] {
            assert!(ShortName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn end_dates_parse_and_refuse_the_past() {
        let today = time::macros::date!(2026 - 11 - 22);
        assert_eq!(EndDate::parse_optional(" ", today), Ok(None));
        let date = EndDate::parse_optional("2027-01-31", today).ok().flatten();
        assert_eq!(date.map(EndDate::to_iso).as_deref(), Some("2027-01-31"));
        assert!(EndDate::parse_optional("2026-11-21", today).is_err());
        assert!(EndDate::parse_optional("31/01/2027", today).is_err());
        assert!(EndDate::parse_optional("2027-02-30", today).is_err());
    }
}

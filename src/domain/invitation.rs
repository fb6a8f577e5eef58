use super::{FieldError, Role, UnixTime};

/// The role as invitations word it: "as a member", "as an owner".
pub const fn role_phrase(role: Role) -> &'static str {
    match role {
        Role::SiteAdmin => "a site administrator",
        Role::Helpdesk => "a member of the helpdesk",
        Role::Owner => "an owner",
        Role::Manager => "a manager",
        Role::Member => "a member",
    }
}

/// A short personal message from the inviter, shown to the invitee as plain text: trimmed,
/// line breaks kept (CRLF from forms becomes LF), no other control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationMessage(String);

impl InvitationMessage {
    pub const MAX_CHARS: usize = 1_000;

    /// `None` for an empty message: it is optional.
    pub fn parse_optional(field: &'static str, raw: &str) -> Result<Option<Self>, FieldError> {
        let text = raw.replace("\r\n", "\n").replace('\r', "\n");
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(FieldError::new(
                field,
                "The message contains invisible control characters. Type it again, or paste it as plain text.",
            ));
        }
        let length = text.chars().count();
        if length > Self::MAX_CHARS {
            return Err(FieldError::new(
                field,
                format!(
                    "The message must be at most 1,000 characters; it has {length}. Shorten it by {}.",
                    length - Self::MAX_CHARS
                ),
            ));
        }
        Ok(Some(Self(text.to_string())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What is stored about an invitation's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
}

impl InvitationStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Revoked => "revoked",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(Self::Pending),
            "accepted" => Some(Self::Accepted),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// What an invitation link can be used for right now; expiry is derived, not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    Open,
    Expired,
    Revoked,
    Used,
}

impl InvitationState {
    /// How lists and the CLI name the state.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Open => "pending",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Used => "accepted",
        }
    }

    pub fn of(status: InvitationStatus, expires_at: UnixTime, now: UnixTime) -> Self {
        match status {
            InvitationStatus::Accepted => Self::Used,
            InvitationStatus::Revoked => Self::Revoked,
            InvitationStatus::Pending if now >= expires_at => Self::Expired,
            InvitationStatus::Pending => Self::Open,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_is_optional_trimmed_and_keeps_line_breaks() -> Result<(), FieldError> {
        assert_eq!(
            InvitationMessage::parse_optional("message", "  \r\n ")?,
            None
        );
        let message = InvitationMessage::parse_optional("message", " Hi Grace,\r\n\tsee you!\n")?;
        assert_eq!(
            message.as_ref().map(InvitationMessage::as_str),
            Some("Hi Grace,\n\tsee you!")
        );
        Ok(())
    }

    #[test]
    fn message_refuses_control_characters_and_length() {
        assert!(InvitationMessage::parse_optional("message", "bell\u{7}").is_err());
        assert!(InvitationMessage::parse_optional("message", "esc\u{1b}[31m").is_err());
        let longest = "é".repeat(InvitationMessage::MAX_CHARS);
        assert!(InvitationMessage::parse_optional("message", &longest).is_ok());
        let error = InvitationMessage::parse_optional("message", &format!("{longest}x"));
        assert_eq!(error.map_err(|e| e.field), Err("message"));
    }

    #[test]
    fn expiry_is_derived_from_time() {
        let s = InvitationStatus::Pending;
        assert_eq!(InvitationState::of(s, 100, 99), InvitationState::Open);
        assert_eq!(InvitationState::of(s, 100, 100), InvitationState::Expired);
        assert_eq!(
            InvitationState::of(InvitationStatus::Accepted, 100, 0),
            InvitationState::Used
        );
        assert_eq!(
            InvitationState::of(InvitationStatus::Revoked, 100, 0),
            InvitationState::Revoked
        );
    }
}

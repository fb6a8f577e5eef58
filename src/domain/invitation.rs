use super::UnixTime;

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

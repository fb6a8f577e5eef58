/// Built-in roles. Site-wide roles (admin, helpdesk) are granted without an organisation;
/// the others are granted within one organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    SiteAdmin,
    Helpdesk,
    Owner,
    Manager,
    Member,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::SiteAdmin => "admin",
            Role::Helpdesk => "helpdesk",
            Role::Owner => "owner",
            Role::Manager => "manager",
            Role::Member => "member",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Role::SiteAdmin,
            Role::Helpdesk,
            Role::Owner,
            Role::Manager,
            Role::Member,
        ]
        .into_iter()
        .find(|role| role.as_str() == value)
    }

    /// Roles a membership can hold, in the order forms list them.
    pub const ORGANISATION_ROLES: [Role; 3] = [Role::Member, Role::Manager, Role::Owner];

    pub const fn is_site_wide(self) -> bool {
        matches!(self, Role::SiteAdmin | Role::Helpdesk)
    }

    pub const fn label(self) -> &'static str {
        match self {
            Role::SiteAdmin => "Site administrator",
            Role::Helpdesk => "Helpdesk",
            Role::Owner => "Owner",
            Role::Manager => "Manager",
            Role::Member => "Member",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for role in [
            Role::SiteAdmin,
            Role::Helpdesk,
            Role::Owner,
            Role::Manager,
            Role::Member,
        ] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}

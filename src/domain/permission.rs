/// What a person may do. Roles map to permissions in the database (`role_permissions`);
/// these names must match its rows, which a test checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    CreateOrganisation,
    ViewOrganisation,
    EditOrganisation,
    ViewOrganisationHistory,
    SearchDirectory,
    ManageMembers,
    GrantManager,
    ManageInvitations,
    ManageJobs,
    ViewAccounts,
    EditAccounts,
    SendPasswordReset,
    LockAccounts,
    RemoveKeys,
    ResyncAccounts,
    DeleteAccounts,
    ManageStaff,
    ManageClients,
    ManageResources,
    UseResources,
    ReadResources,
}

impl Permission {
    pub const ALL: [Permission; 21] = [
        Permission::CreateOrganisation,
        Permission::ViewOrganisation,
        Permission::EditOrganisation,
        Permission::ViewOrganisationHistory,
        Permission::SearchDirectory,
        Permission::ManageMembers,
        Permission::GrantManager,
        Permission::ManageInvitations,
        Permission::ManageJobs,
        Permission::ViewAccounts,
        Permission::EditAccounts,
        Permission::SendPasswordReset,
        Permission::LockAccounts,
        Permission::RemoveKeys,
        Permission::ResyncAccounts,
        Permission::DeleteAccounts,
        Permission::ManageStaff,
        Permission::ManageClients,
        Permission::ManageResources,
        Permission::UseResources,
        Permission::ReadResources,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::CreateOrganisation => "org.create",
            Permission::ViewOrganisation => "org.view",
            Permission::EditOrganisation => "org.edit",
            Permission::ViewOrganisationHistory => "org.history",
            Permission::SearchDirectory => "directory.search",
            Permission::ManageMembers => "members.manage",
            Permission::GrantManager => "members.grant_manager",
            Permission::ManageInvitations => "invitations.manage",
            Permission::ManageJobs => "jobs.manage",
            Permission::ViewAccounts => "accounts.view",
            Permission::EditAccounts => "accounts.edit",
            Permission::SendPasswordReset => "accounts.reset",
            Permission::LockAccounts => "accounts.lock",
            Permission::RemoveKeys => "accounts.keys",
            Permission::ResyncAccounts => "accounts.resync",
            Permission::DeleteAccounts => "accounts.delete",
            Permission::ManageStaff => "staff.manage",
            Permission::ManageClients => "clients.manage",
            Permission::ManageResources => "resources.manage",
            Permission::UseResources => "resources.use",
            Permission::ReadResources => "resources.read",
        }
    }

    /// The permission with this name, as tokens and the database spell it.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|permission| permission.as_str() == name)
    }
}

/// Text typed into a search box: trimmed, 1 to 100 characters, no control characters.
/// It is escaped wherever it is used; this only bounds its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    pub fn parse(input: &str) -> Result<Option<Self>, super::FieldError> {
        let value = input.trim();
        if value.is_empty() {
            return Ok(None);
        }
        if value.chars().count() > 100 {
            return Err(super::FieldError::new(
                "q",
                "Search for at most 100 characters.",
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(super::FieldError::new(
                "q",
                "Remove control characters from the search.",
            ));
        }
        Ok(Some(Self(value.to_string())))
    }

    /// A directory search (page or API): at least 2 characters, since one letter matches
    /// much of any directory and makes the server read every entry.
    pub fn parse_directory_query(input: &str) -> Result<Option<Self>, super::FieldError> {
        match Self::parse(input)? {
            Some(text) if text.0.chars().count() < 2 => Err(super::FieldError::new(
                "q",
                "Type at least 2 characters to search.",
            )),
            other => Ok(other),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Most people one directory search returns; more means "narrow your search".
pub const DIRECTORY_SEARCH_LIMIT: i32 = 500;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_is_bounded() {
        assert_eq!(SearchText::parse("  "), Ok(None));
        assert!(SearchText::parse("a\u{0}b").is_err());
        assert!(SearchText::parse(&"x".repeat(10_000)).is_err());
        assert_eq!(
            SearchText::parse(" *)(uid=* ").ok().flatten().map(|t| t.0),
            Some("*)(uid=*".to_string())
        );
    }
}

//! Who may do what to whose account. Staff accounts are looked after only by site
//! administrators (otherwise helpdesk could change an admin's email, reset the password
//! into its own mailbox and take the account over), and nobody takes their own access away.

use super::Role;

/// What staff do to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountAction {
    ChangeContact,
    SendPasswordReset,
    Lock,
    Unlock,
    RemoveKey,
    Resync,
    Delete,
    RevokeStaffRole,
}

impl AccountAction {
    /// How the audit trail names an attempt.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ChangeContact => "contact change",
            Self::SendPasswordReset => "password-reset link",
            Self::Lock => "lock",
            Self::Unlock => "unlock",
            Self::RemoveKey => "key removal",
            Self::Resync => "resync",
            Self::Delete => "deletion",
            Self::RevokeStaffRole => "staff role revocation",
        }
    }

    /// Whether doing this to a staff account needs a site administrator. A resync only
    /// rewrites LDAP from the portal's state, so it changes nobody's access.
    const fn needs_admin_on_staff(self) -> bool {
        !matches!(self, Self::Resync)
    }

    /// Whether doing this to yourself would take your own access away.
    const fn removes_own_access(self) -> bool {
        matches!(self, Self::Lock | Self::Delete | Self::RevokeStaffRole)
    }
}

/// Why an action on an account is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Locking, deleting or demoting yourself.
    OwnAccount,
    /// A staff account, and the actor is not a site administrator.
    StaffAccount,
    /// The last active site administrator would be locked, deleted or demoted.
    LastAdmin,
}

impl Refusal {
    pub const fn message(self) -> &'static str {
        match self {
            Self::OwnAccount => {
                "You cannot lock, delete or demote your own account. Ask another site administrator."
            }
            Self::StaffAccount => {
                "This account holds a staff role: only a site administrator may change it."
            }
            Self::LastAdmin => {
                "This is the last site administrator: grant the role to someone else first."
            }
        }
    }
}

/// Why an account was locked, as staff give it: at most 200 characters on one line; may
/// be empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockReason(String);

impl LockReason {
    pub fn parse(input: &str) -> Result<Self, super::FieldError> {
        let reason = input.trim();
        if reason.chars().count() > 200 || reason.chars().any(char::is_control) {
            return Err(super::FieldError::new(
                "reason",
                "Give the reason in at most 200 characters, on one line.",
            ));
        }
        Ok(Self(reason.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks `action` by someone holding `actor_roles` on an account holding `subject_roles`
/// (site-wide roles; others are ignored). `own` is true when both are the same person.
pub fn check_account_action(
    action: AccountAction,
    actor_roles: &[Role],
    subject_roles: &[Role],
    own: bool,
) -> Result<(), Refusal> {
    if own && action.removes_own_access() {
        return Err(Refusal::OwnAccount);
    }
    let subject_is_staff = subject_roles.iter().any(|role| role.is_site_wide());
    let actor_is_admin = actor_roles.contains(&Role::SiteAdmin);
    if subject_is_staff && action.needs_admin_on_staff() && !actor_is_admin {
        return Err(Refusal::StaffAccount);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [AccountAction; 8] = [
        AccountAction::ChangeContact,
        AccountAction::SendPasswordReset,
        AccountAction::Lock,
        AccountAction::Unlock,
        AccountAction::RemoveKey,
        AccountAction::Resync,
        AccountAction::Delete,
        AccountAction::RevokeStaffRole,
    ];

    #[test]
    fn helpdesk_may_act_on_members_but_not_on_staff() {
        let helpdesk = [Role::Helpdesk];
        for action in ALL {
            assert_eq!(
                check_account_action(action, &helpdesk, &[Role::Owner], false),
                Ok(()),
                "{action:?} on a member"
            );
            for staff in [Role::Helpdesk, Role::SiteAdmin] {
                let expected = if action == AccountAction::Resync {
                    Ok(())
                } else {
                    Err(Refusal::StaffAccount)
                };
                assert_eq!(
                    check_account_action(action, &helpdesk, &[staff], false),
                    expected,
                    "{action:?} on {staff:?}"
                );
            }
        }
    }

    #[test]
    fn admins_may_act_on_staff_but_nobody_removes_their_own_access() {
        let admin = [Role::SiteAdmin];
        for action in ALL {
            assert_eq!(
                check_account_action(action, &admin, &[Role::SiteAdmin], false),
                Ok(())
            );
        }
        for action in [
            AccountAction::Lock,
            AccountAction::Delete,
            AccountAction::RevokeStaffRole,
        ] {
            assert_eq!(
                check_account_action(action, &admin, &admin, true),
                Err(Refusal::OwnAccount)
            );
        }
    }
}

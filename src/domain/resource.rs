//! Resources (clusters, storage, devices, services) and the rule of who may use one, kept
//! pure so that the access check, the pages and the LDAP group all say the same thing.

use super::{FieldError, ShortName};

/// A resource's kind, one of the site's configured kinds (`resources.kinds`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceKind(String);

impl ResourceKind {
    pub fn parse(input: &str, kinds: &[String]) -> Result<Self, FieldError> {
        let value = input.trim().to_lowercase();
        if kinds.contains(&value) {
            Ok(Self(value))
        } else {
            Err(FieldError::new(
                "kind",
                format!("Choose one of {}.", kinds.join(", ")),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a resource is (a building, a data centre): free text on one line, for filtering.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Site(String);

impl Site {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let value = input.trim();
        if value.chars().count() > 100 || value.chars().any(char::is_control) {
            return Err(FieldError::new(
                "site",
                "Use at most 100 characters on one line.",
            ));
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The posixGroup of a resource: `<org short>-<resource short>`, itself a valid group name.
pub fn resource_group_name(
    organisation: &str,
    resource: &ShortName,
) -> Result<ShortName, FieldError> {
    ShortName::parse(&format!("{organisation}-{}", resource.as_str())).map_err(|error| {
        FieldError::new(
            "short_name",
            format!(
                "With the organisation's name in front it would not be a group name: {}",
                error.message
            ),
        )
    })
}

/// What the access rule needs to know about one person and one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessFacts {
    pub resource_active: bool,
    pub account_active: bool,
    /// Any membership of the owning organisation, current or not.
    pub member: bool,
    pub membership_current: bool,
    pub assigned: bool,
    pub restricted: bool,
    pub listed: bool,
    /// The member's role holds `resources.use`.
    pub role_may_use: bool,
}

/// Whether someone may use a resource, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Role,
    Listed,
    Assigned,
    NotMember,
    MembershipEnded,
    Locked,
    Retired,
    NotListed,
}

impl Access {
    pub const fn allowed(self) -> bool {
        matches!(self, Access::Role | Access::Listed | Access::Assigned)
    }

    /// The API's and the pages' word for it.
    pub const fn reason(self) -> &'static str {
        match self {
            Access::Role => "role",
            Access::Listed => "listed",
            Access::Assigned => "assigned",
            Access::NotMember => "not a member",
            Access::MembershipEnded => "membership ended",
            Access::Locked => "locked",
            Access::Retired => "retired",
            Access::NotListed => "not listed",
        }
    }

    /// The rule: a current member with an active account may use an active resource when
    /// it is assigned to them, or it is open and their role holds `resources.use`, or it is
    /// restricted and they are listed.
    pub fn decide(facts: AccessFacts) -> Access {
        if !facts.resource_active {
            Access::Retired
        } else if !facts.member {
            Access::NotMember
        } else if !facts.membership_current {
            Access::MembershipEnded
        } else if !facts.account_active {
            Access::Locked
        } else if facts.assigned {
            Access::Assigned
        } else if facts.restricted {
            if facts.listed {
                Access::Listed
            } else {
                Access::NotListed
            }
        } else if facts.role_may_use {
            Access::Role
        } else {
            Access::NotListed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member() -> AccessFacts {
        AccessFacts {
            resource_active: true,
            account_active: true,
            member: true,
            membership_current: true,
            assigned: false,
            restricted: false,
            listed: false,
            role_may_use: true,
        }
    }

    #[test]
    fn each_reason_follows_from_the_facts() {
        let cases = [
            (member(), Access::Role),
            (
                AccessFacts {
                    resource_active: false,
                    ..member()
                },
                Access::Retired,
            ),
            (
                AccessFacts {
                    member: false,
                    membership_current: false,
                    ..member()
                },
                Access::NotMember,
            ),
            (
                AccessFacts {
                    membership_current: false,
                    assigned: true,
                    ..member()
                },
                Access::MembershipEnded,
            ),
            (
                AccessFacts {
                    account_active: false,
                    assigned: true,
                    ..member()
                },
                Access::Locked,
            ),
            (
                AccessFacts {
                    restricted: true,
                    ..member()
                },
                Access::NotListed,
            ),
            (
                AccessFacts {
                    restricted: true,
                    listed: true,
                    ..member()
                },
                Access::Listed,
            ),
            (
                AccessFacts {
                    restricted: true,
                    assigned: true,
                    ..member()
                },
                Access::Assigned,
            ),
            (
                AccessFacts {
                    role_may_use: false,
                    ..member()
                },
                Access::NotListed,
            ),
        ];
        for (facts, expected) in cases {
            assert_eq!(Access::decide(facts), expected, "{facts:?}");
        }
        assert!(Access::Listed.allowed());
        assert!(!Access::Locked.allowed());
    }
}

//! Service clients of the automation API: their names, scopes and allowed networks.

use std::net::IpAddr;

use ipnet::IpNet;

use super::{FieldError, Permission};

/// A client's name as people see it in lists: 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName(String);

impl ClientName {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let value = input.trim();
        if value.is_empty() {
            return Err(FieldError::new(
                "name",
                "Name the client, e.g. “nightly sync”.",
            ));
        }
        if value.chars().count() > 100 || value.chars().any(char::is_control) {
            return Err(FieldError::new(
                "name",
                "Use at most 100 characters, without control characters.",
            ));
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The permissions a client or one of its tokens carries, each once, in a stable order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(Vec<Permission>);

impl Scopes {
    /// Permission names separated by spaces (RFC 6749 §3.3); an unknown name is an error.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        Self::from_names(input.split_ascii_whitespace())
    }

    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, FieldError> {
        let mut held = Vec::new();
        for name in names {
            let permission = Permission::parse(name).ok_or_else(|| {
                FieldError::new("scope", format!("{name:?} is not a permission name."))
            })?;
            if !held.contains(&permission) {
                held.push(permission);
            }
        }
        Ok(Self::of(held))
    }

    pub fn of(permissions: Vec<Permission>) -> Self {
        let mut permissions = permissions;
        permissions.sort_by_key(|permission| permission.as_str());
        permissions.dedup();
        Self(permissions)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, permission: Permission) -> bool {
        self.0.contains(&permission)
    }

    pub fn iter(&self) -> impl Iterator<Item = Permission> + '_ {
        self.0.iter().copied()
    }

    /// The first permission here that `allowed` lacks.
    pub fn first_outside(&self, allowed: &[Permission]) -> Option<Permission> {
        self.iter().find(|permission| !allowed.contains(permission))
    }

    /// Space-separated, as OAuth's `scope` and the database spell it.
    pub fn to_scope_string(&self) -> String {
        self.names().join(" ")
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.iter().map(Permission::as_str).collect()
    }
}

/// Networks a client may call from; empty allows any address.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowedNetworks(Vec<IpNet>);

impl AllowedNetworks {
    /// CIDRs (`10.0.0.0/8`, `2001:db8::/32`) or single addresses, separated by spaces,
    /// commas or new lines.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let mut networks = Vec::new();
        for item in input
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|item| !item.is_empty())
        {
            let network = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    FieldError::new(
                        "networks",
                        format!("{item:?} is not a network such as 192.0.2.0/24."),
                    )
                })?;
            networks.push(network.trunc());
        }
        Ok(Self(networks))
    }

    pub fn allows(&self, address: Option<IpAddr>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        address.is_some_and(|address| {
            let address = match address {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
                v4 => v4,
            };
            self.0.iter().any(|network| network.contains(&address))
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_list_string(&self) -> String {
        self.0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_known_names_once_in_order() {
        let scopes = Scopes::parse("members.manage org.view  org.view").ok();
        assert_eq!(
            scopes.map(|s| s.to_scope_string()),
            Some("members.manage org.view".to_string())
        );
        assert!(Scopes::parse("org.view root").is_err());
        assert!(Scopes::parse("").is_ok_and(|s| s.is_empty()));
    }

    #[test]
    fn scopes_outside_the_allowed_are_named() {
        let scopes = Scopes::of(vec![Permission::ViewOrganisation, Permission::ManageStaff]);
        assert_eq!(
            scopes.first_outside(&[Permission::ViewOrganisation]),
            Some(Permission::ManageStaff)
        );
    }

    #[test]
    fn networks_allow_their_addresses_only() {
        let networks = AllowedNetworks::parse("10.1.0.0/16, 192.0.2.7\n2001:db8::/32");
        let Ok(networks) = networks else {
            unreachable!("valid networks")
        };
        let ip = |text: &str| text.parse::<IpAddr>().ok();
        assert!(networks.allows(ip("10.1.200.3")));
        assert!(networks.allows(ip("::ffff:10.1.0.9")));
        assert!(networks.allows(ip("192.0.2.7")));
        assert!(networks.allows(ip("2001:db8::1")));
        assert!(!networks.allows(ip("10.2.0.1")));
        assert!(!networks.allows(None));
        assert!(AllowedNetworks::default().allows(None));
        assert!(AllowedNetworks::parse("10.0.0.0/33").is_err());
        assert!(AllowedNetworks::parse("(uid=*)").is_err());
    }

    #[test]
    fn client_names_are_bounded() {
        assert!(ClientName::parse("  ").is_err());
        assert!(ClientName::parse(&"x".repeat(101)).is_err());
        assert!(ClientName::parse("nightly\u{7}").is_err());
        assert_eq!(
            ClientName::parse(" sync ").map(|n| n.as_str().to_string()),
            Ok("sync".into())
        );
    }
}

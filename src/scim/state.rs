//! What a target's User or Group must hold, and how a remote one differs from it (pure).

use std::collections::BTreeSet;

use serde_json::Value;

/// A User as the portal expects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserState {
    /// The portal's id of the person.
    pub external_id: String,
    pub user_name: String,
    pub given_name: Option<String>,
    pub family_name: String,
    pub email: String,
    pub active: bool,
    /// `<org short name>:<permission>`, sorted; `None` when the target is not sent
    /// permissions (its entitlements are then left alone).
    pub entitlements: Option<Vec<String>>,
}

impl UserState {
    pub fn formatted_name(&self) -> String {
        match &self.given_name {
            Some(given) => format!("{given} {}", self.family_name),
            None => self.family_name.clone(),
        }
    }
}

/// A Group as the portal expects it, its members by the target's User ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    /// The portal's id of the organisation or resource.
    pub external_id: String,
    pub display_name: String,
    pub members: BTreeSet<String>,
}

fn text<'a>(body: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut at = body;
    for key in path {
        at = at.get(key)?;
    }
    at.as_str()
}

fn primary_email(body: &Value) -> Option<String> {
    let emails = body.get("emails")?.as_array()?;
    emails
        .iter()
        .find(|email| email.get("primary").and_then(Value::as_bool) == Some(true))
        .or_else(|| emails.first())
        .and_then(|email| email.get("value"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The attributes in which a remote User differs from the expected one.
pub fn user_differences(expected: &UserState, remote: &Value) -> Vec<&'static str> {
    let mut differences = Vec::new();
    if text(remote, &["userName"]) != Some(expected.user_name.as_str()) {
        differences.push("userName");
    }
    if text(remote, &["externalId"]) != Some(expected.external_id.as_str()) {
        differences.push("externalId");
    }
    if text(remote, &["name", "familyName"]) != Some(expected.family_name.as_str())
        || text(remote, &["name", "givenName"]) != expected.given_name.as_deref()
    {
        differences.push("name");
    }
    let email = primary_email(remote);
    if !email.is_some_and(|email| email.eq_ignore_ascii_case(&expected.email)) {
        differences.push("emails");
    }
    // A target that leaves `active` out treats the User as active (RFC 7643 §4.1.1).
    let active = remote
        .get("active")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    if active != expected.active {
        differences.push("active");
    }
    if let Some(entitlements) = &expected.entitlements {
        let remote: BTreeSet<&str> = remote
            .get("entitlements")
            .and_then(Value::as_array)
            .map(|values| {
                values
                    .iter()
                    .filter_map(|value| value.get("value").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        let expected: BTreeSet<&str> = entitlements.iter().map(String::as_str).collect();
        if remote != expected {
            differences.push("entitlements");
        }
    }
    differences
}

/// The User ids a remote Group lists as members.
pub fn remote_members(body: &Value) -> BTreeSet<String> {
    body.get("members")
        .and_then(Value::as_array)
        .map(|members| {
            members
                .iter()
                .filter_map(|member| member.get("value").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserState {
        UserState {
            external_id: "p1".into(),
            user_name: "alice".into(),
            given_name: Some("Alice".into()),
            family_name: "Smith".into(),
            email: "alice@example.org".into(),
            active: true,
            entitlements: Some(vec!["phys:members.read".into()]),
        }
    }

    #[test]
    fn a_user_pushed_as_built_has_no_differences_and_each_attribute_is_named() {
        let expected = alice();
        let mut remote = crate::scim::user_body(&expected);
        remote["id"] = Value::from("remote-1");
        assert!(user_differences(&expected, &remote).is_empty());
        remote["active"] = Value::Bool(false);
        remote["entitlements"] = Value::Array(Vec::new());
        remote["name"]["familyName"] = Value::from("Smyth");
        assert_eq!(
            user_differences(&expected, &remote),
            ["name", "active", "entitlements"]
        );
        // Entitlements are not compared for a target that is not sent them.
        let without = UserState {
            entitlements: None,
            ..expected
        };
        assert_eq!(user_differences(&without, &remote), ["name", "active"]);
    }
}

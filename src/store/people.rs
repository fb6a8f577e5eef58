//! People: accounts in the portal, with their password hash.

// Dynamic SQL here is assembled only from constant column lists.
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Store, StoreError, StoreResult, is_unique_violation, new_id};
use crate::domain::{Email, LoginName, PersonName, UnixTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    Locked,
    /// Personal data erased; the row keeps the username and uidNumber from being reused.
    Deleted,
}

impl AccountStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Locked => "locked",
            Self::Deleted => "deleted",
        }
    }
    pub(crate) fn parse(value: &str) -> StoreResult<Self> {
        match value {
            "active" => Ok(Self::Active),
            "locked" => Ok(Self::Locked),
            "deleted" => Ok(Self::Deleted),
            other => Err(StoreError::Corrupt(format!(
                "unknown account status {other:?}"
            ))),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Person {
    pub id: String,
    pub email: String,
    pub username: Option<String>,
    pub surname: String,
    pub given_name: Option<String>,
    pub password_hash: Option<String>,
    pub status: AccountStatus,
    pub created_at: UnixTime,
    /// The directory entry this account is, once it exists (or was linked).
    pub ldap_dn: Option<String>,
    pub uid_number: Option<i64>,
    pub gid_number: Option<i64>,
    pub login_shell: Option<String>,
    pub locked_at: Option<UnixTime>,
    pub lock_reason: Option<String>,
    /// The uidNumber of the adopted entry this person is (`roster adopt apply`): Roster
    /// manages only its password, from the person's first one on.
    pub adopted_uid_number: Option<i64>,
}

impl Person {
    /// Whether the person still has to choose a username to get their POSIX account.
    pub fn needs_account(&self) -> bool {
        self.username.is_none() && self.ldap_dn.is_none()
    }

    pub fn display_name(&self) -> String {
        match &self.given_name {
            Some(given) => format!("{given} {}", self.surname),
            None => self.surname.clone(),
        }
    }
}

pub(crate) const COLUMNS: &str = "id, email, username, surname, given_name, password_hash, status, \
     created_at, ldap_dn, uid_number, gid_number, login_shell, locked_at, lock_reason, \
     adopted_uid_number";

pub(crate) fn from_row(row: &AnyRow) -> StoreResult<Person> {
    Ok(Person {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        username: row.try_get("username")?,
        surname: row.try_get("surname")?,
        given_name: row.try_get("given_name")?,
        password_hash: row.try_get("password_hash")?,
        status: AccountStatus::parse(&row.try_get::<String, _>("status")?)?,
        created_at: row.try_get("created_at")?,
        ldap_dn: row.try_get("ldap_dn")?,
        uid_number: row.try_get("uid_number")?,
        gid_number: row.try_get("gid_number")?,
        login_shell: row.try_get("login_shell")?,
        locked_at: row.try_get("locked_at")?,
        lock_reason: row.try_get("lock_reason")?,
        adopted_uid_number: row.try_get("adopted_uid_number")?,
    })
}

pub struct NewPerson<'a> {
    pub email: &'a Email,
    pub surname: &'a PersonName,
    pub given_name: Option<&'a PersonName>,
    pub password_hash: Option<&'a str>,
}

impl Store {
    pub async fn person_by_id(&self, id: &str) -> StoreResult<Option<Person>> {
        let sql = format!("SELECT {COLUMNS} FROM people WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Finds the account a sign-in name refers to: an email address or a username.
    pub async fn person_by_login(&self, login: &LoginName) -> StoreResult<Option<Person>> {
        let column = if login.is_email() {
            "email_normalized"
        } else {
            "username"
        };
        let sql = format!("SELECT {COLUMNS} FROM people WHERE {column} = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(login.as_str())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn person_by_email(&self, email: &Email) -> StoreResult<Option<Person>> {
        let sql = format!("SELECT {COLUMNS} FROM people WHERE email_normalized = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(email.normalized())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn person_roles(&self, person_id: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query("SELECT role FROM role_grants WHERE person_id = $1 ORDER BY role")
            .bind(person_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| row.try_get::<String, _>("role").map_err(StoreError::from))
            .collect()
    }
}

/// Inserts a person inside a caller's transaction (used when an invitation is accepted).
pub(crate) async fn insert(
    tx: &mut sqlx::AnyConnection,
    person: NewPerson<'_>,
    now: UnixTime,
) -> StoreResult<String> {
    let id = new_id();
    let keys = super::member_keys::MemberKeys::of(
        &id,
        person.surname.as_str(),
        person.given_name.map(PersonName::as_str),
        person.email.as_str(),
        None,
    );
    let result = sqlx::query(
        "INSERT INTO people (id, email, email_normalized, username, surname, given_name, \
         password_hash, status, created_at, updated_at, sort_key, search_text) \
         VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8, $8, $9, $10)",
    )
    .bind(&id)
    .bind(person.email.as_str())
    .bind(person.email.normalized())
    .bind(person.surname.as_str())
    .bind(person.given_name.map(PersonName::as_str))
    .bind(person.password_hash)
    .bind(AccountStatus::Active.as_str())
    .bind(now)
    .bind(&keys.sort_key)
    .bind(&keys.search_text)
    .execute(&mut *tx)
    .await;
    match result {
        Ok(_) => Ok(id),
        Err(error) if is_unique_violation(&error) => {
            Err(StoreError::Conflict("an account with this email address"))
        }
        Err(error) => Err(error.into()),
    }
}

/// Which accounts an account search lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Any,
    /// Invitation sent, not accepted yet: no account exists, only the invitation.
    Invited,
    /// Active in the portal without a POSIX account: invitees still setting up, and staff
    /// who never needed one.
    SettingUp,
    Active,
    Locked,
    /// A directory change for the account is waiting in the outbox.
    PendingLdap,
    /// At least one membership is past its end date.
    ExpiredMembership,
    Deleted,
}

impl StatusFilter {
    pub const ALL: [StatusFilter; 8] = [
        Self::Any,
        Self::Invited,
        Self::SettingUp,
        Self::Active,
        Self::Locked,
        Self::PendingLdap,
        Self::ExpiredMembership,
        Self::Deleted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Any => "",
            Self::Invited => "invited",
            Self::SettingUp => "setting-up",
            Self::Active => "active",
            Self::Locked => "locked",
            Self::PendingLdap => "pending-ldap",
            Self::ExpiredMembership => "expired-membership",
            Self::Deleted => "deleted",
        }
    }

    pub const fn label(self) -> &'static str {
        match self {
            Self::Any => "Any status (not deleted)",
            Self::Invited => "Invited, not accepted yet",
            Self::SettingUp => "No POSIX account yet",
            Self::Active => "Active",
            Self::Locked => "Locked",
            Self::PendingLdap => "Pending LDAP",
            Self::ExpiredMembership => "Expired membership",
            Self::Deleted => "Deleted",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|filter| filter.as_str() == value)
    }

    /// Whether a search with this filter also lists invitations not accepted yet.
    pub const fn shows_invitations(self) -> bool {
        matches!(self, Self::Any | Self::Invited)
    }

    /// The condition on `people p` for this filter; `$3` is today's ISO date.
    const fn condition(self) -> &'static str {
        match self {
            Self::Any => "p.status <> 'deleted'",
            // Only the invitations list answers this filter.
            Self::Invited => "1 = 0",
            Self::SettingUp => "p.status = 'active' AND p.username IS NULL AND p.ldap_dn IS NULL",
            Self::Active => {
                "p.status = 'active' AND (p.username IS NOT NULL OR p.ldap_dn IS NOT NULL)"
            }
            Self::Locked => "p.status = 'locked'",
            Self::PendingLdap => {
                "p.status <> 'deleted' AND EXISTS (SELECT 1 FROM jobs j WHERE j.kind = 'sync_account' \
                 AND j.subject_id = p.id AND j.status IN ('pending', 'failed'))"
            }
            Self::ExpiredMembership => {
                "p.status <> 'deleted' AND EXISTS (SELECT 1 FROM memberships m \
                 WHERE m.person_id = p.id AND m.ends_on < $3)"
            }
            Self::Deleted => "p.status = 'deleted'",
        }
    }
}

pub struct AccountSearch<'a> {
    /// Part of a name, email or username, or a uidNumber; `None` lists everyone.
    pub text: Option<&'a str>,
    pub status: StatusFilter,
    pub today: &'a str,
    pub limit: i64,
    pub offset: i64,
}

pub struct AccountPage {
    pub people: Vec<Person>,
    /// How many match; for a search by text, at most `SEARCH_COUNT_CAP`.
    pub total: i64,
    /// A search by text matched more than `SEARCH_COUNT_CAP`.
    pub more: bool,
}

/// How far a search by text counts its matches: past it, the page says there are more
/// and pages through the first ones, as nobody reads further than that.
pub const SEARCH_COUNT_CAP: i64 = 1000;

pub(crate) const PERSON_COLUMNS: &str = "p.id, p.email, p.username, p.surname, p.given_name, \
     p.password_hash, p.status, p.created_at, p.ldap_dn, p.uid_number, p.gid_number, \
     p.login_shell, p.locked_at, p.lock_reason, p.adopted_uid_number";

impl Store {
    /// A page of accounts matching `search`, by surname.
    pub async fn search_accounts(&self, search: &AccountSearch<'_>) -> StoreResult<AccountPage> {
        let folded = search
            .text
            .map(crate::domain::search_key::fold)
            .unwrap_or_default();
        let uid_number = search
            .text
            .and_then(|text| text.trim().parse::<i64>().ok())
            .unwrap_or(-1);
        let condition = search.status.condition();
        // On SQLite a fragment of 3+ characters that is not a uidNumber is looked up in
        // the trigram index, whose rows follow the sort order (migration 0020): a page
        // walks the matches in order and stops when it is full. On PostgreSQL the LIKE
        // uses its pg_trgm index.
        let indexed =
            self.backend == super::Backend::Sqlite && folded.chars().count() >= 3 && uid_number < 0;
        let (pattern, source, text_condition, order) = if indexed {
            (
                super::fts_phrase(&folded),
                "(SELECT rowid AS r FROM people_keys WHERE people_keys MATCH $1 \
                 ORDER BY rowid) m JOIN people p ON p.key_row = m.r",
                "($2 = $2)",
                "m.r",
            )
        } else {
            (
                search
                    .text
                    .map(super::folded_contains_pattern)
                    .unwrap_or_default(),
                "people p",
                "($1 = '' OR p.search_text LIKE ($1 || '') ESCAPE '\\' OR p.uid_number = $2)",
                "p.sort_key",
            )
        };
        // A search by text counts up to one past the cap. On SQLite "any status" counts
        // from the trigram index alone, leaving out the (few) deleted accounts.
        let cap = if search.text.is_some() {
            format!("LIMIT {}", SEARCH_COUNT_CAP + 1)
        } else {
            String::new()
        };
        let counting = if indexed && search.status == StatusFilter::Any {
            format!(
                "SELECT COUNT(*) FROM (SELECT rowid FROM people_keys WHERE people_keys MATCH $1 \
                 AND rowid NOT IN (SELECT key_row FROM people WHERE status = 'deleted') {cap}) AS matched"
            )
        } else {
            format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM {source} WHERE {text_condition} \
                 AND {condition} AND ($3 = $3) {cap}) AS matched"
            )
        };
        // The page carries the count, so a search is one statement (the count is read
        // once); only a page past the end needs the count on its own.
        let page_sql = format!(
            "SELECT {PERSON_COLUMNS}, ({counting}) AS total FROM {source} \
             WHERE {text_condition} AND {condition} AND ($3 = $3) \
             ORDER BY {order} LIMIT ($4 + 0) OFFSET ($5 + 0)"
        );
        let rows = sqlx::query(AssertSqlSafe(page_sql))
            .bind(&pattern)
            .bind(uid_number)
            .bind(search.today)
            .bind(search.limit)
            .bind(search.offset)
            .fetch_all(self.pool())
            .await?;
        let total: i64 = match rows.first() {
            Some(row) => row.try_get("total")?,
            // Every statement binds $1..$3, so each names all three.
            None => sqlx::query(AssertSqlSafe(format!(
                "SELECT ({counting}) AS n WHERE ($1 = $1) AND ($2 = $2) AND ($3 = $3)"
            )))
            .bind(&pattern)
            .bind(uid_number)
            .bind(search.today)
            .fetch_one(self.pool())
            .await?
            .try_get("n")?,
        };
        let people = rows.iter().map(from_row).collect::<StoreResult<Vec<_>>>()?;
        let more = search.text.is_some() && total > SEARCH_COUNT_CAP;
        Ok(AccountPage {
            people,
            total: if more { SEARCH_COUNT_CAP } else { total },
            more,
        })
    }
}

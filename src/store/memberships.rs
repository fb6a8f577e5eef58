//! Memberships: who belongs to an organisation, with which role and until when.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::audit::AuditEvent;
use super::member_keys::MemberKeys;
use super::names::{NameKind, claim_name};
use super::people::AccountStatus;
use super::unit_of_work::Receipt;
use super::{Store, StoreError, StoreResult, is_unique_violation, new_id};
use crate::domain::{EndDate, Role, UnixTime};

#[derive(Debug, Clone)]
pub struct Member {
    pub membership_id: String,
    pub person_id: String,
    pub surname: String,
    pub given_name: Option<String>,
    pub email: String,
    pub username: Option<String>,
    pub role: Role,
    pub ends_on: Option<String>,
    pub version: i64,
    pub account_status: AccountStatus,
    pub in_directory: bool,
    /// An adopted account nobody has claimed yet (no password, no sign-on identity).
    pub unclaimed: bool,
}

impl Member {
    pub fn display_name(&self) -> String {
        match &self.given_name {
            Some(given) => format!("{given} {}", self.surname),
            None => self.surname.clone(),
        }
    }
}

const COLUMNS: &str = "m.id AS membership_id, p.id AS person_id, p.surname, p.given_name, p.email, \
     p.username, m.role, m.ends_on, m.version, p.status, p.ldap_dn, \
     CASE WHEN p.adopted_uid_number IS NOT NULL AND p.password_hash IS NULL AND NOT EXISTS \
     (SELECT 1 FROM oidc_links l WHERE l.person_id = p.id) THEN CAST(1 AS BIGINT) \
     ELSE CAST(0 AS BIGINT) END AS unclaimed";

fn from_row(row: &AnyRow) -> StoreResult<Member> {
    let role: String = row.try_get("role")?;
    let status: String = row.try_get("status")?;
    let ldap_dn: Option<String> = row.try_get("ldap_dn")?;
    Ok(Member {
        membership_id: row.try_get("membership_id")?,
        person_id: row.try_get("person_id")?,
        surname: row.try_get("surname")?,
        given_name: row.try_get("given_name")?,
        email: row.try_get("email")?,
        username: row.try_get("username")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
        ends_on: row.try_get("ends_on")?,
        version: row.try_get("version")?,
        account_status: AccountStatus::parse(&status)?,
        in_directory: ldap_dn.is_some(),
        unclaimed: row.try_get::<i64, _>("unclaimed")? == 1,
    })
}

#[derive(Clone)]
pub struct MemberPage {
    pub members: Vec<Member>,
    pub total: i64,
    /// The page shown: the one asked for, kept within 1..=last.
    pub page: i64,
}

/// A change to one membership, applied only if its version still matches.
pub enum MembershipChange {
    Role(Role),
    EndDate(Option<EndDate>),
    Remove,
}

/// The organisations a person is a member of, inside a caller's transaction.
pub(crate) async fn organisation_ids_of(
    conn: &mut sqlx::AnyConnection,
    person_id: &str,
) -> StoreResult<Vec<String>> {
    let rows = sqlx::query("SELECT organisation_id FROM memberships WHERE person_id = $1")
        .bind(person_id)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|row| {
            row.try_get::<String, _>("organisation_id")
                .map_err(Into::into)
        })
        .collect()
}

pub(crate) async fn insert(
    conn: &mut sqlx::AnyConnection,
    organisation_id: &str,
    person_id: &str,
    keys: &MemberKeys,
    role: Role,
    ends_on: Option<&str>,
    now: UnixTime,
) -> StoreResult<String> {
    let id = new_id();
    let inserted = sqlx::query(
        "INSERT INTO memberships (id, organisation_id, person_id, role, ends_on, version, created_at, \
         updated_at, sort_key, search_text) VALUES ($1, $2, $3, $4, $5, 1, $6, $6, $7, $8)",
    )
    .bind(&id)
    .bind(organisation_id)
    .bind(person_id)
    .bind(role.as_str())
    .bind(ends_on)
    .bind(now)
    .bind(&keys.sort_key)
    .bind(&keys.search_text)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => {}
        Err(error) if is_unique_violation(&error) => {
            return Err(StoreError::Conflict("this membership"));
        }
        Err(error) => return Err(error.into()),
    }
    adjust_member_count(conn, organisation_id, 1).await?;
    Ok(id)
}

/// Keeps `organisations.member_count` in step, inside the membership's transaction, and
/// moves `members_version` so member-list pages read before are not reused.
pub(crate) async fn adjust_member_count(
    conn: &mut sqlx::AnyConnection,
    organisation_id: &str,
    delta: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE organisations SET member_count = member_count + $1, \
         members_version = members_version + 1 WHERE id = $2",
    )
    .bind(delta)
    .bind(organisation_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl Store {
    /// One page of an organisation's members, by surname, optionally filtered by a
    /// case-insensitive substring of name, email or username. Both walk the
    /// (organisation, sort key) index (migration 0003), or a large organisation's search
    /// the trigram index (`MemberSearch`). `known_total` is the organisation's member
    /// count when the caller already has it: the total without a search, and the size
    /// that chooses how to search.
    pub async fn members_page(
        &self,
        organisation_id: &str,
        search: Option<&str>,
        page: i64,
        per_page: i64,
        known_total: Option<i64>,
    ) -> StoreResult<MemberPage> {
        self.members_page_at(organisation_id, search, page, per_page, known_total, None)
            .await
    }

    /// Like [`Store::members_page`], reusing a page read at the same `members_version`
    /// of the organisation. The version lives in the database, so every instance sees a
    /// change at once; the cache only saves re-reading rows that cannot have changed.
    pub async fn members_page_at(
        &self,
        organisation_id: &str,
        search: Option<&str>,
        page: i64,
        per_page: i64,
        known_total: Option<i64>,
        members_version: Option<i64>,
    ) -> StoreResult<MemberPage> {
        let key = members_version.map(|version| MemberPageKey {
            organisation_id: organisation_id.to_string(),
            version,
            search: search.unwrap_or("").to_string(),
            page,
            per_page,
            after: None,
        });
        if let Some(hit) = key.as_ref().and_then(|key| self.member_pages.get(key)) {
            return Ok(hit);
        }
        let read = self
            .read_members_page(organisation_id, search, page, per_page, known_total)
            .await?;
        if let Some(key) = key {
            self.member_pages.put(key, read.clone());
        }
        Ok(read)
    }

    async fn read_members_page(
        &self,
        organisation_id: &str,
        search: Option<&str>,
        page: i64,
        per_page: i64,
        known_total: Option<i64>,
    ) -> StoreResult<MemberPage> {
        let search = MemberSearch::of(self, search, known_total);
        // Without a search the count is kept on the organisation (migration 0003).
        let count = if search.value.is_empty() {
            sqlx::query("SELECT member_count AS n FROM organisations WHERE id = $1")
                .bind(organisation_id)
        } else {
            sqlx::query(AssertSqlSafe(format!(
                "SELECT COUNT(*) AS n FROM {} WHERE {}",
                search.counted, search.condition
            )))
            .bind(organisation_id)
            .bind(&search.value)
        };
        let total: i64 = match known_total.filter(|_| search.value.is_empty()) {
            Some(total) => total,
            None => count.fetch_one(self.pool()).await?.try_get("n")?,
        };
        let last_page = ((total + per_page - 1) / per_page).max(1);
        let page = page.clamp(1, last_page);
        let sql = format!(
            "SELECT {COLUMNS} FROM {} WHERE {} ORDER BY {} LIMIT ($3 + 0) OFFSET ($4 + 0)",
            search.source, search.condition, search.order
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(organisation_id)
            .bind(&search.value)
            .bind(per_page)
            .bind((page - 1) * per_page)
            .fetch_all(self.pool())
            .await?;
        Ok(MemberPage {
            members: rows.iter().map(from_row).collect::<StoreResult<_>>()?,
            total,
            page,
        })
    }

    /// The query plan of a member-list search for `folded` in an organisation too large
    /// to read through, for the tests that keep it indexed. On PostgreSQL scans are ruled
    /// out, as for `explain_index_search`.
    pub async fn explain_member_search(
        &self,
        organisation_id: &str,
        folded: &str,
    ) -> StoreResult<String> {
        let search = MemberSearch::of(self, Some(folded), None);
        let sql = format!(
            "SELECT m.id FROM {} WHERE {} ORDER BY {} LIMIT 20",
            search.source, search.condition, search.order
        );
        let organisation_id = organisation_id.to_string();
        self.explain(&sql, |query| query.bind(organisation_id).bind(search.value))
            .await
    }
}

/// How a member list is searched: $1 is the organisation, $2 `value`.
struct MemberSearch {
    /// The rows of the page and what they are filtered by.
    source: &'static str,
    condition: &'static str,
    order: &'static str,
    /// The rows counted for the total (with `condition`).
    counted: &'static str,
    value: String,
}

impl MemberSearch {
    /// On SQLite, a search of 3+ characters in an organisation of more than
    /// `member_scan_limit` members (or of unknown size) looks its matches up in the
    /// trigram index of every account: a membership's keys are its person's, and that index
    /// lists people in the member list's order (migration 0020). The index is read first
    /// (CROSS JOIN fixes the order), as SQLite would otherwise walk the organisation and
    /// probe the index for each member. A smaller organisation is read through: quicker
    /// than finding a common fragment among every account. PostgreSQL's pg_trgm index on
    /// the memberships serves the LIKE.
    fn of(store: &Store, search: Option<&str>, members: Option<i64>) -> Self {
        let folded = search
            .map(crate::domain::search_key::fold)
            .unwrap_or_default();
        let large = members.is_none_or(|members| members > store.member_scan_limit);
        if store.backend == super::Backend::Sqlite && folded.chars().count() >= 3 && large {
            let source = "(SELECT rowid AS r FROM people_keys WHERE people_keys MATCH $2 \
                 ORDER BY rowid) k CROSS JOIN people p ON p.key_row = k.r \
                 CROSS JOIN memberships m ON m.person_id = p.id AND m.organisation_id = $1";
            return Self {
                source,
                condition: "1 = 1",
                order: "k.r",
                counted: source,
                value: super::fts_phrase(&folded),
            };
        }
        Self {
            source: "memberships m JOIN people p ON p.id = m.person_id",
            condition: "m.organisation_id = $1 AND ($2 = '' OR m.search_text LIKE ($2 || '') \
                 ESCAPE '\\')",
            order: "m.sort_key",
            counted: "memberships m",
            value: search
                .map(super::folded_contains_pattern)
                .unwrap_or_default(),
        }
    }
}

impl Store {
    /// A membership of this organisation; another organisation's id finds nothing.
    pub async fn member(
        &self,
        organisation_id: &str,
        membership_id: &str,
    ) -> StoreResult<Option<Member>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM memberships m JOIN people p ON p.id = m.person_id \
             WHERE m.organisation_id = $1 AND m.id = $2"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(organisation_id)
            .bind(membership_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Usernames of the organisation's current members: the group's `memberUid` values.
    /// A membership whose ending the lifecycle job carried out is over whatever the date.
    pub async fn member_uids(
        &self,
        organisation_id: &str,
        today: &str,
    ) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT p.username FROM memberships m JOIN people p ON p.id = m.person_id \
             WHERE m.organisation_id = $1 AND p.username IS NOT NULL \
             AND (m.ends_on IS NULL OR m.ends_on >= $2) \
             AND (m.ended_for IS NULL OR m.ended_for <> m.ends_on) ORDER BY p.username",
        )
        .bind(organisation_id)
        .bind(today)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| row.try_get::<String, _>("username").map_err(Into::into))
            .collect()
    }

    /// Which of `usernames` (at most a page of directory results) are members.
    pub async fn members_among(
        &self,
        organisation_id: &str,
        usernames: &[&str],
    ) -> StoreResult<Vec<String>> {
        if usernames.is_empty() {
            return Ok(Vec::new());
        }
        // Only generated placeholders go into the SQL text; the names are bound. Driven
        // from the usernames (unique index), so the cost does not grow with the organisation.
        let placeholders: Vec<String> = (0..usernames.len())
            .map(|n| format!("${}", n + 2))
            .collect();
        // One row, the names as a JSON array: on SQLite each row costs a hand-off to the
        // connection's worker thread, which is most of what a directory page costs.
        let names = match self.backend {
            super::Backend::Sqlite => "json_group_array(p.username)",
            super::Backend::Postgres => "COALESCE(json_agg(p.username), '[]')::text",
        };
        let sql = format!(
            "SELECT {names} AS names FROM people p WHERE p.username IN ({}) AND EXISTS \
             (SELECT 1 FROM memberships m WHERE m.organisation_id = $1 AND m.person_id = p.id)",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(organisation_id);
        for username in usernames {
            query = query.bind(*username);
        }
        let names: String = query.fetch_one(self.pool()).await?.try_get("names")?;
        serde_json::from_str(&names)
            .map_err(|error| super::StoreError::Corrupt(format!("member names: {error}")))
    }

    /// Applies a versioned change to one membership, with its audit event and a group
    /// sync job, in one transaction.
    pub async fn change_membership(
        &self,
        organisation_id: &str,
        membership_id: &str,
        expected_version: i64,
        change: &MembershipChange,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<Option<Receipt>> {
        let mut work = self.begin(now).await?;
        let result = match change {
            MembershipChange::Role(role) => {
                sqlx::query(
                    "UPDATE memberships SET role = $1, version = version + 1, updated_at = $2 \
                     WHERE organisation_id = $3 AND id = $4 AND version = $5 RETURNING person_id",
                )
                .bind(role.as_str())
                .bind(now)
                .bind(organisation_id)
                .bind(membership_id)
                .bind(expected_version)
                .fetch_optional(work.conn())
                .await?
            }
            MembershipChange::EndDate(ends_on) => {
                sqlx::query(
                    "UPDATE memberships SET ends_on = $1, version = version + 1, updated_at = $2 \
                     WHERE organisation_id = $3 AND id = $4 AND version = $5 RETURNING person_id",
                )
                .bind(ends_on.map(EndDate::to_iso))
                .bind(now)
                .bind(organisation_id)
                .bind(membership_id)
                .bind(expected_version)
                .fetch_optional(work.conn())
                .await?
            }
            MembershipChange::Remove => sqlx::query(
                "DELETE FROM memberships WHERE organisation_id = $1 AND id = $2 AND version = $3 \
                 RETURNING person_id",
            )
            .bind(organisation_id)
            .bind(membership_id)
            .bind(expected_version)
            .fetch_optional(work.conn())
            .await?,
        };
        let Some(changed) = result else {
            return Ok(None);
        };
        let person_id: String = changed.try_get("person_id")?;
        let delta = if matches!(change, MembershipChange::Remove) {
            -1
        } else {
            0
        };
        adjust_member_count(work.conn(), organisation_id, delta).await?;
        work.queue_member(organisation_id, &person_id);
        let event = AuditEvent {
            organisation_id: Some(organisation_id),
            ..event
        };
        let subject = event.subject_id;
        Ok(Some(work.commit(subject, event).await?))
    }
}

/// A person found in the directory, to be linked (not copied) into the portal.
pub struct DirectoryPersonRef<'a> {
    pub dn: &'a str,
    pub uid: &'a str,
    pub email: &'a crate::domain::Email,
    pub surname: &'a str,
    pub given_name: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum AddMemberError {
    #[error("already a member")]
    AlreadyMember,
    /// The email belongs to a portal account that is not this directory entry.
    #[error("the email address belongs to another account")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AddMemberError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error.into())
    }
}

impl Store {
    /// Adds a directory person as a member: reuses their portal account when it exists
    /// (matched by username), otherwise creates one linked to the entry, in one transaction
    /// with the audit event and the group sync job.
    pub async fn add_directory_member(
        &self,
        organisation_id: &str,
        person: DirectoryPersonRef<'_>,
        role: Role,
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> Result<(String, Receipt), AddMemberError> {
        let mut work = self.begin(now).await?;
        let person_id = link_directory_person(work.conn(), &person, now).await?;
        let keys = MemberKeys::of(
            &person_id,
            person.surname,
            person.given_name,
            person.email.as_str(),
            Some(person.uid),
        );
        match insert(
            work.conn(),
            organisation_id,
            &person_id,
            &keys,
            role,
            None,
            now,
        )
        .await
        {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => return Err(AddMemberError::AlreadyMember),
            Err(other) => return Err(other.into()),
        }
        work.queue_member(organisation_id, &person_id);
        let event = AuditEvent {
            organisation_id: Some(organisation_id),
            ..event
        };
        let receipt = work.commit(Some(&person_id), event).await?;
        Ok((person_id, receipt))
    }
}

/// The portal account of a directory person: theirs when one has their username, else a
/// new one linked to the entry (and its name claimed), inside the caller's transaction.
pub(crate) async fn link_directory_person(
    conn: &mut sqlx::AnyConnection,
    person: &DirectoryPersonRef<'_>,
    now: UnixTime,
) -> Result<String, AddMemberError> {
    // Write first so SQLite takes its write lock before reading (see accept_invitation).
    let person_id = new_id();
    let new_keys = MemberKeys::of(
        &person_id,
        person.surname,
        person.given_name,
        person.email.as_str(),
        Some(person.uid),
    );
    let inserted = sqlx::query(
        "INSERT INTO people (id, email, email_normalized, username, surname, given_name, \
             password_hash, status, created_at, updated_at, ldap_dn, sort_key, search_text) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, 'active', $7, $7, $8, $9, $10) \
             ON CONFLICT DO NOTHING",
    )
    .bind(&person_id)
    .bind(person.email.as_str())
    .bind(person.email.normalized())
    .bind(person.uid)
    .bind(person.surname)
    .bind(person.given_name)
    .bind(now)
    .bind(person.dn)
    .bind(&new_keys.sort_key)
    .bind(&new_keys.search_text)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 1 {
        // The name is LDAP's already; recorded so the portal never gives it out again.
        claim_name(&mut *conn, person.uid, NameKind::Person, &person_id, now).await?;
        return Ok(person_id);
    }
    let existing = sqlx::query("SELECT id FROM people WHERE username = $1")
        .bind(person.uid)
        .fetch_optional(&mut *conn)
        .await?;
    match existing {
        Some(row) => Ok(row.try_get::<String, _>("id")?),
        None => Err(AddMemberError::EmailTaken),
    }
}

/// Members after a cursor, for the API: a page and the cursor of the next one.
#[derive(Clone)]
pub struct MemberSlice {
    pub members: Vec<Member>,
    /// The sort key of the last member, when more follow.
    pub next: Option<String>,
}

impl Store {
    /// Up to `limit` members whose sort key comes after `after`, by sort key; reuses a
    /// slice read at the same `members_version` (see [`Store::members_page_at`]).
    pub async fn members_after(
        &self,
        organisation_id: &str,
        after: Option<&str>,
        limit: i64,
        members_version: i64,
    ) -> StoreResult<std::sync::Arc<MemberSlice>> {
        let key = MemberPageKey {
            organisation_id: organisation_id.to_string(),
            version: members_version,
            search: String::new(),
            page: 0,
            per_page: limit,
            after: Some(after.unwrap_or("").to_string()),
        };
        if let Some(hit) = self.member_slices.get(&key) {
            return Ok(hit);
        }
        let sql = format!(
            "SELECT {COLUMNS}, m.sort_key FROM memberships m JOIN people p ON p.id = m.person_id \
             WHERE m.organisation_id = $1 AND m.sort_key > $2 ORDER BY m.sort_key LIMIT ($3 + 0)"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(organisation_id)
            .bind(after.unwrap_or(""))
            .bind(limit + 1)
            .fetch_all(self.pool())
            .await?;
        let more = rows.len() as i64 > limit;
        let shown = &rows[..rows.len().min(usize::try_from(limit).unwrap_or(0))];
        let next = match (more, shown.last()) {
            (true, Some(last)) => Some(last.try_get::<String, _>("sort_key")?),
            _ => None,
        };
        // Shared, not copied: a hit costs no clone of a hundred members.
        let slice = std::sync::Arc::new(MemberSlice {
            members: shown.iter().map(from_row).collect::<StoreResult<_>>()?,
            next,
        });
        self.member_slices.put(key, slice.clone());
        Ok(slice)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct MemberPageKey {
    organisation_id: String,
    version: i64,
    search: String,
    page: i64,
    per_page: i64,
    /// The cursor of an API slice; `None` for a numbered page.
    after: Option<String>,
}

/// Member-list pages (or API slices) recently read, by organisation version. Bounded:
/// when full it is emptied, which costs only re-reading.
#[derive(Clone)]
pub(crate) struct MemberPageCache<Page>(
    std::sync::Arc<std::sync::Mutex<std::collections::HashMap<MemberPageKey, Page>>>,
);

impl<Page> Default for MemberPageCache<Page> {
    fn default() -> Self {
        Self(std::sync::Arc::default())
    }
}

const MEMBER_PAGE_CACHE_ENTRIES: usize = 512;

impl<Page: Clone> MemberPageCache<Page> {
    fn get(&self, key: &MemberPageKey) -> Option<Page> {
        self.0.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: MemberPageKey, page: Page) {
        if let Ok(mut pages) = self.0.lock() {
            if pages.len() >= MEMBER_PAGE_CACHE_ENTRIES {
                pages.clear();
            }
            pages.insert(key, page);
        }
    }
}

impl Store {
    /// The person's role in the organisation, if they are a member.
    pub async fn membership_role(
        &self,
        organisation_id: &str,
        person_id: &str,
    ) -> StoreResult<Option<Role>> {
        let row = sqlx::query(
            "SELECT role FROM memberships WHERE organisation_id = $1 AND person_id = $2",
        )
        .bind(organisation_id)
        .bind(person_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row
            .map(|row| row.try_get::<String, _>("role"))
            .transpose()?
            .and_then(|role| Role::parse(&role)))
    }
}

/// One of a person's memberships, for their account page.
pub struct PersonMembership {
    pub organisation_id: String,
    pub organisation_name: String,
    pub role: Role,
    pub ends_on: Option<String>,
}

impl Store {
    /// A person's memberships with their organisations' names, by name.
    pub async fn memberships_of_person(
        &self,
        person_id: &str,
    ) -> StoreResult<Vec<PersonMembership>> {
        let rows = sqlx::query(
            "SELECT m.organisation_id, o.name, m.role, m.ends_on FROM memberships m \
             JOIN organisations o ON o.id = m.organisation_id WHERE m.person_id = $1 \
             ORDER BY LOWER(o.name), o.id",
        )
        .bind(person_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let role: String = row.try_get("role")?;
                Ok(PersonMembership {
                    organisation_id: row.try_get("organisation_id")?,
                    organisation_name: row.try_get("name")?,
                    role: Role::parse(&role)
                        .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
                    ends_on: row.try_get("ends_on")?,
                })
            })
            .collect()
    }
}

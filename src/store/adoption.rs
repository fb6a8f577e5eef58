//! Adoption's records: what the portal holds that a plan must respect, the runs (resumed
//! until finished), and the rows an adoption writes. Adopted entries are recorded here and
//! reserved (names, uidNumbers, gidNumbers); nothing is queued for LDAP, except the group of
//! a personal organisation that has none yet.

use std::collections::HashMap;

use sqlx::Row;

use super::audit::AuditEvent;
use super::ids::IdKind;
use super::member_keys::MemberKeys;
use super::memberships;
use super::names::{NameKind, claim_name};
use super::unit_of_work::Receipt;
use super::{Store, StoreError, StoreResult, new_id};
use crate::domain::adoption::{
    GidHolder, KnownOrganisation, KnownPerson, PlannedPerson, PortalFacts,
};
use crate::domain::{Role, UnixTime};

/// An organisation to record: an adopted group, or a personal organisation.
pub struct AdoptedOrganisation<'a> {
    pub short_name: &'a str,
    pub name: &'a str,
    pub gid_number: i64,
    /// People ids with their role (the owner among them).
    pub members: Vec<(&'a str, Role)>,
    /// A personal organisation's name is its owner's username: held by that person.
    pub name_held_by: Option<&'a str>,
    /// The group is new: queue it for LDAP (audited by `event`).
    pub new_group: Option<AuditEvent<'a>>,
}

impl Store {
    /// What a plan must respect: the portal's people, emails, claimed numbers, organisations
    /// and resource names.
    pub async fn adoption_facts(&self) -> StoreResult<PortalFacts> {
        let mut facts = PortalFacts::default();
        let people = sqlx::query(
            "SELECT id, username, email_normalized, ldap_dn, adopted_by_run, uid_number FROM people",
        )
        .fetch_all(self.pool())
        .await?;
        let mut names_by_id: HashMap<String, String> = HashMap::new();
        // Whether a gidNumber's holder came from an adoption (a shared group's number may
        // then be a person's gidNumber too).
        let mut adopted_owners: HashMap<String, bool> = HashMap::new();
        for row in &people {
            let id: String = row.try_get("id")?;
            adopted_owners.insert(
                id.clone(),
                row.try_get::<Option<String>, _>("adopted_by_run")?
                    .is_some(),
            );
            let username: Option<String> = row.try_get("username")?;
            let holder = username.clone().unwrap_or_else(|| id.clone());
            facts
                .emails
                .insert(row.try_get("email_normalized")?, holder.clone());
            if let Some(username) = username {
                facts.people.insert(
                    username,
                    KnownPerson {
                        ldap_dn: row.try_get("ldap_dn")?,
                        adopted: row
                            .try_get::<Option<String>, _>("adopted_by_run")?
                            .is_some()
                            || row.try_get::<Option<i64>, _>("uid_number")?.is_some(),
                    },
                );
            }
            names_by_id.insert(id, holder);
        }
        let organisations =
            sqlx::query("SELECT id, short_name, gid_number, adopted_by_run FROM organisations")
                .fetch_all(self.pool())
                .await?;
        for row in &organisations {
            let id: String = row.try_get("id")?;
            let short_name: String = row.try_get("short_name")?;
            let adopted = row
                .try_get::<Option<String>, _>("adopted_by_run")?
                .is_some();
            adopted_owners.insert(id.clone(), adopted);
            names_by_id.insert(id, short_name.clone());
            facts.organisations.insert(
                short_name,
                KnownOrganisation {
                    gid_number: row.try_get("gid_number")?,
                    adopted: true,
                },
            );
        }
        let name_of = |id: String| names_by_id.get(&id).cloned().unwrap_or(id);
        for row in sqlx::query("SELECT uid_number, claimed_by FROM uid_claims")
            .fetch_all(self.pool())
            .await?
        {
            facts.uid_claims.insert(
                row.try_get("uid_number")?,
                name_of(row.try_get("claimed_by")?),
            );
        }
        for row in sqlx::query("SELECT gid_number, claimed_by FROM gid_claims")
            .fetch_all(self.pool())
            .await?
        {
            let claimed_by: String = row.try_get("claimed_by")?;
            let adopted = adopted_owners.get(&claimed_by).copied().unwrap_or(false);
            facts.gid_claims.insert(
                row.try_get("gid_number")?,
                GidHolder {
                    name: name_of(claimed_by),
                    adopted,
                },
            );
        }
        for row in sqlx::query("SELECT name FROM posix_names WHERE kind = 'resource'")
            .fetch_all(self.pool())
            .await?
        {
            facts.resource_names.insert(row.try_get("name")?);
        }
        Ok(facts)
    }

    /// The unfinished run of this plan, to resume; or a new run.
    pub async fn adoption_run(
        &self,
        plan_sha256: &str,
        actor: &str,
        now: UnixTime,
    ) -> StoreResult<(String, bool)> {
        let open = sqlx::query(
            "SELECT id FROM adoption_runs WHERE plan_sha256 = $1 AND finished_at IS NULL \
             ORDER BY started_at LIMIT 1",
        )
        .bind(plan_sha256)
        .fetch_optional(self.pool())
        .await?;
        if let Some(row) = open {
            return Ok((row.try_get("id")?, true));
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO adoption_runs (id, plan_sha256, actor, started_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(plan_sha256)
        .bind(actor)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok((id, false))
    }

    /// Records adopted people as linked accounts, and reserves their names and numbers, in
    /// one transaction. Someone recorded already is left as is. Returns how many were new.
    pub async fn adopt_people(
        &self,
        run_id: &str,
        people: &[PlannedPerson],
        now: UnixTime,
    ) -> StoreResult<u64> {
        let mut tx = self.write_transaction().await?;
        let mut adopted = 0;
        for person in people {
            // A person linked before (added from the directory search) is adopted in place.
            let linked = sqlx::query(
                "UPDATE people SET adopted_by_run = $1, adopted_uid_number = $2, \
                 adopted_gid_number = $3, updated_at = $4 \
                 WHERE username = $5 AND ldap_dn = $6 AND adopted_by_run IS NULL \
                 RETURNING id",
            )
            .bind(run_id)
            .bind(person.uid_number)
            .bind(person.gid_number)
            .bind(now)
            .bind(&person.uid)
            .bind(&person.dn)
            .fetch_optional(&mut *tx)
            .await?;
            let person_id = if let Some(row) = linked {
                row.try_get::<String, _>("id")?
            } else {
                let id = new_id();
                let keys = MemberKeys::of(
                    &id,
                    &person.surname,
                    person.given_name.as_deref(),
                    &person.mail,
                    Some(&person.uid),
                );
                let inserted = sqlx::query(
                    "INSERT INTO people (id, email, email_normalized, username, surname, given_name, \
                     password_hash, status, created_at, updated_at, ldap_dn, sort_key, search_text, \
                     adopted_by_run, adopted_uid_number, adopted_gid_number) \
                     VALUES ($1, $2, $3, $4, $5, $6, NULL, 'active', $7, $7, $8, $9, $10, $11, $12, $13) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&id)
                .bind(&person.mail)
                .bind(person.mail.to_lowercase())
                .bind(&person.uid)
                .bind(&person.surname)
                .bind(person.given_name.as_deref())
                .bind(now)
                .bind(&person.dn)
                .bind(&keys.sort_key)
                .bind(&keys.search_text)
                .bind(run_id)
                .bind(person.uid_number)
                .bind(person.gid_number)
                .execute(&mut *tx)
                .await?;
                if inserted.rows_affected() != 1 {
                    // Adopted by an earlier (interrupted) pass of this run.
                    continue;
                }
                if !claim_name(&mut tx, &person.uid, NameKind::Person, &id, now).await? {
                    return Err(StoreError::Conflict("a group or person with this name"));
                }
                id
            };
            for (kind, number) in [
                (IdKind::Uid, person.uid_number),
                (IdKind::Gid, person.gid_number),
            ] {
                let (table, column) = kind.claims();
                // The gidNumber may be a group's that many share: the first claim stands.
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO {table} ({column}, claimed_by, claimed_at) VALUES ($1, $2, $3) \
                     ON CONFLICT ({column}) DO NOTHING"
                )))
                .bind(number)
                .bind(&person_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            adopted += 1;
        }
        tx.commit().await?;
        Ok(adopted)
    }

    /// Username → person id, for every person with a username.
    pub async fn person_ids_by_username(&self) -> StoreResult<HashMap<String, String>> {
        sqlx::query("SELECT id, username FROM people WHERE username IS NOT NULL")
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|row| Ok((row.try_get("username")?, row.try_get("id")?)))
            .collect()
    }

    /// Records an organisation with its members, in one transaction. `None` when an
    /// organisation of that short name exists already (adopted before).
    pub async fn adopt_organisation(
        &self,
        run_id: &str,
        organisation: AdoptedOrganisation<'_>,
        now: UnixTime,
    ) -> StoreResult<Option<Receipt>> {
        let id = new_id();
        let mut work = self.begin(now).await?;
        let inserted = sqlx::query(
            "INSERT INTO organisations (id, name, short_name, description, gid_number, version, \
             created_at, updated_at, adopted_by_run) VALUES ($1, $2, $3, '', $4, 1, $5, $5, $6) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(organisation.name)
        .bind(organisation.short_name)
        .bind(organisation.gid_number)
        .bind(now)
        .bind(run_id)
        .execute(work.conn())
        .await?;
        if inserted.rows_affected() != 1 {
            return Ok(None);
        }
        let name_ok = match organisation.name_held_by {
            Some(person_id) => {
                let holder = sqlx::query(
                    "SELECT owner_id FROM posix_names WHERE name = $1 AND kind = 'person'",
                )
                .bind(organisation.short_name)
                .fetch_optional(work.conn())
                .await?;
                match holder {
                    Some(row) => row.try_get::<String, _>("owner_id")? == person_id,
                    None => {
                        claim_name(
                            work.conn(),
                            organisation.short_name,
                            NameKind::Organisation,
                            &id,
                            now,
                        )
                        .await?
                    }
                }
            }
            None => {
                claim_name(
                    work.conn(),
                    organisation.short_name,
                    NameKind::Organisation,
                    &id,
                    now,
                )
                .await?
            }
        };
        if !name_ok {
            return Err(StoreError::Conflict("a group or person with this name"));
        }
        sqlx::query(
            "INSERT INTO gid_claims (gid_number, claimed_by, claimed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (gid_number) DO NOTHING",
        )
        .bind(organisation.gid_number)
        .bind(&id)
        .bind(now)
        .execute(work.conn())
        .await?;
        for (person_id, role) in &organisation.members {
            let keys = MemberKeys::for_person(work.conn(), person_id)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("person {person_id} vanished")))?;
            memberships::insert(work.conn(), &id, person_id, &keys, *role, None, now).await?;
        }
        match organisation.new_group {
            Some(event) => {
                for (person_id, _) in &organisation.members {
                    work.queue_member(&id, person_id);
                }
                let receipt = work
                    .commit(
                        Some(&id),
                        AuditEvent {
                            organisation_id: Some(&id),
                            ..event
                        },
                    )
                    .await?;
                Ok(Some(receipt))
            }
            None => {
                work.commit_step().await?;
                Ok(Some(Receipt::default()))
            }
        }
    }

    /// Adopted people who have not claimed their account (no password, no single sign-on
    /// identity, not locked): of one organisation, of one run, or one person.
    pub async fn unclaimed_adopted(
        &self,
        organisation_id: Option<&str>,
        run_id: Option<&str>,
        person_id: Option<&str>,
    ) -> StoreResult<Vec<crate::store::people::Person>> {
        let sql = format!(
            "SELECT {} FROM people p WHERE p.adopted_uid_number IS NOT NULL \
             AND p.password_hash IS NULL AND p.status = 'active' \
             AND NOT EXISTS (SELECT 1 FROM oidc_links l WHERE l.person_id = p.id) \
             AND ($1 = '' OR p.id IN (SELECT person_id FROM memberships WHERE organisation_id = $1)) \
             AND ($2 = '' OR p.adopted_by_run = $2) AND ($3 = '' OR p.id = $3) \
             ORDER BY p.username",
            super::people::PERSON_COLUMNS
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(organisation_id.unwrap_or(""))
            .bind(run_id.unwrap_or(""))
            .bind(person_id.unwrap_or(""))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(super::people::from_row)
            .collect()
    }

    /// What a run recorded in all, across its interruptions: people, organisations and
    /// their memberships.
    pub async fn adoption_run_totals(&self, run_id: &str) -> StoreResult<(i64, i64, i64)> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM people WHERE adopted_by_run = $1) AS people, \
             (SELECT COUNT(*) FROM organisations WHERE adopted_by_run = $1) AS organisations, \
             (SELECT COUNT(*) FROM memberships m JOIN organisations o ON o.id = m.organisation_id \
              WHERE o.adopted_by_run = $1) AS memberships",
        )
        .bind(run_id)
        .fetch_one(self.pool())
        .await?;
        Ok((
            row.try_get("people")?,
            row.try_get("organisations")?,
            row.try_get("memberships")?,
        ))
    }

    /// Closes the run with its totals and its one audit event.
    pub async fn finish_adoption_run(
        &self,
        run_id: &str,
        totals: (i64, i64, i64),
        event: AuditEvent<'_>,
        now: UnixTime,
    ) -> StoreResult<()> {
        let mut work = self.begin(now).await?;
        sqlx::query(
            "UPDATE adoption_runs SET finished_at = $1, people = $2, organisations = $3, \
             memberships = $4 WHERE id = $5",
        )
        .bind(now)
        .bind(totals.0)
        .bind(totals.1)
        .bind(totals.2)
        .bind(run_id)
        .execute(work.conn())
        .await?;
        work.commit_unqueued(None, event).await
    }
}

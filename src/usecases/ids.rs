//! Allocating uidNumbers and gidNumbers: one allocator for each, from the configured ranges,
//! skipping (and burning) numbers LDAP already holds, never handing one out twice.

use crate::context::AppContext;
use crate::directory::DirectoryError;
use crate::store::StoreError;
use crate::store::ids::IdKind;

#[derive(Debug, thiserror::Error)]
pub enum IdError {
    #[error("no {0} is left in the configured range")]
    RangeExhausted(&'static str),
    #[error("the directory is needed to allocate a number but is unavailable: {0}")]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to do when LDAP cannot be asked whether it holds a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenLdapDown {
    /// Take the number: the directory checks again when it writes the entry and never
    /// takes over one that is not ours (accounts, whose set-up should not wait).
    CheckAtWrite,
    /// Refuse (organisations, made by staff who can try again).
    Refuse,
}

/// Whether LDAP holds `number` as a uidNumber (`uid`) or a gidNumber.
async fn held_in_ldap(
    ctx: &AppContext,
    number: i64,
    uid: bool,
    down: WhenLdapDown,
) -> Result<bool, IdError> {
    let held = if uid {
        ctx.directory.uid_number_in_use(number).await
    } else {
        ctx.directory.gid_number_in_use(number).await
    };
    match held {
        Ok(held) => Ok(held),
        Err(error) if error.is_outage() && down == WhenLdapDown::CheckAtWrite => {
            tracing::warn!(%error, number, "LDAP down: number checked in the portal only");
            Ok(false)
        }
        Err(error) => Err(error.into()),
    }
}

/// The next uidNumber neither LDAP nor an adoption holds, claimed for `owner`.
pub async fn allocate_uid(ctx: &AppContext, owner: &str) -> Result<i64, IdError> {
    let ldap = &ctx.settings.ldap;
    loop {
        let number = ctx
            .store
            .take_id_number(
                IdKind::Uid,
                i64::from(ldap.uid_number_min),
                i64::from(ldap.uid_number_max),
            )
            .await?
            .ok_or(IdError::RangeExhausted("uidNumber"))?;
        if held_in_ldap(ctx, number, true, WhenLdapDown::CheckAtWrite).await? {
            tracing::info!(number, "uidNumber already in LDAP; skipped");
            continue;
        }
        if ctx
            .store
            .claim_id_number(IdKind::Uid, number, owner, ctx.clock.now())
            .await?
        {
            return Ok(number);
        }
        tracing::info!(number, "uidNumber reserved by an adoption; skipped");
    }
}

/// A gidNumber claimed for `owner` (organisation groups and private groups share them):
/// `preferred` when it is free (a private group takes its uidNumber), otherwise the next
/// free one of the range.
pub async fn allocate_gid(
    ctx: &AppContext,
    owner: &str,
    preferred: Option<i64>,
    down: WhenLdapDown,
) -> Result<i64, IdError> {
    if let Some(number) = preferred
        && !held_in_ldap(ctx, number, false, down).await?
        && ctx
            .store
            .claim_id_number(IdKind::Gid, number, owner, ctx.clock.now())
            .await?
    {
        return Ok(number);
    }
    let ldap = &ctx.settings.ldap;
    loop {
        let number = ctx
            .store
            .take_id_number(
                IdKind::Gid,
                i64::from(ldap.gid_number_min),
                i64::from(ldap.gid_number_max),
            )
            .await?
            .ok_or(IdError::RangeExhausted("gidNumber"))?;
        if held_in_ldap(ctx, number, false, down).await? {
            tracing::info!(number, "gidNumber already in LDAP; skipped");
            continue;
        }
        if ctx
            .store
            .claim_id_number(IdKind::Gid, number, owner, ctx.clock.now())
            .await?
        {
            return Ok(number);
        }
    }
}

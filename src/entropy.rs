//! The one place the operating system's randomness is read: tokens, session keys, CSRF
//! tokens. `domain` stays free of I/O by taking random bytes from here.

use rand::TryRng;

pub use rand::rngs::SysError;

/// `N` bytes from the operating system's secure random source.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], SysError> {
    let mut bytes = [0u8; N];
    rand::rngs::SysRng.try_fill_bytes(&mut bytes)?;
    Ok(bytes)
}

/// A fresh single-use token for a link (invitation, password reset).
pub fn secret_token() -> Result<crate::domain::SecretToken, SysError> {
    Ok(crate::domain::SecretToken::from_random(random_bytes()?))
}

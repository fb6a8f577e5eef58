use ssh_key::{Algorithm, HashAlg, PublicKey};

use super::FieldError;

/// Longer input is refused before parsing (an RSA-16384 key is about 2.8 kB).
const MAX_INPUT_BYTES: usize = 16 * 1024;
const MIN_RSA_BITS: usize = 3072;
const FIELD: &str = "key";

/// An OpenSSH public key that passed the site's policy: ed25519, ECDSA, FIDO (sk-) keys,
/// or RSA of at least 3072 bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshPublicKey {
    /// The key as `sshPublicKey` holds it: `type base64 comment`, re-encoded by the parser.
    pub openssh: String,
    /// `SHA256:...`, as `ssh-keygen -l` shows it.
    pub fingerprint: String,
    /// e.g. `ssh-ed25519`, `ssh-rsa`.
    pub algorithm: String,
    /// Key size for RSA; fixed by the algorithm for the others.
    pub bits: Option<usize>,
    pub comment: String,
}

fn rsa_bits(modulus: &[u8]) -> usize {
    let leading = modulus
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(modulus.len());
    let significant = &modulus[leading..];
    match significant.first() {
        Some(first) => (significant.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    }
}

impl SshPublicKey {
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        if input.len() > MAX_INPUT_BYTES {
            return Err(FieldError::new(
                FIELD,
                "That is far too long for a public key. Paste the contents of your .pub file.",
            ));
        }
        let text = input.trim();
        if text.is_empty() {
            return Err(FieldError::new(
                FIELD,
                "Paste your public key (the contents of a .pub file).",
            ));
        }
        if text.lines().count() > 1 {
            return Err(FieldError::new(
                FIELD,
                "Paste one key at a time: a single line starting with its type, e.g. ssh-ed25519.",
            ));
        }
        if text.contains("PRIVATE KEY") {
            return Err(FieldError::new(
                FIELD,
                "This is a private key. Never share it: paste the public key (.pub file) instead.",
            ));
        }
        let key = PublicKey::from_openssh(text).map_err(|_| {
            FieldError::new(FIELD, "This is not a valid OpenSSH public key. Paste the whole line from your .pub file, e.g. \"ssh-ed25519 AAAA… you@laptop\".")
        })?;
        let bits = match key.algorithm() {
            Algorithm::Ed25519
            | Algorithm::SkEd25519
            | Algorithm::SkEcdsaSha2NistP256
            | Algorithm::Ecdsa { .. } => None,
            Algorithm::Rsa { .. } => {
                let bits = key
                    .key_data()
                    .rsa()
                    .map(|rsa| rsa_bits(rsa.n.as_bytes()))
                    .unwrap_or(0);
                if bits < MIN_RSA_BITS {
                    return Err(FieldError::new(
                        FIELD,
                        format!(
                            "This RSA key has {bits} bits; at least {MIN_RSA_BITS} are required. An ed25519 key is better still (ssh-keygen -t ed25519)."
                        ),
                    ));
                }
                Some(bits)
            }
            Algorithm::Dsa => {
                return Err(FieldError::new(
                    FIELD,
                    "DSA keys are no longer considered safe and are refused. Make an ed25519 key with ssh-keygen -t ed25519.",
                ));
            }
            _ => {
                return Err(FieldError::new(
                    FIELD,
                    "This key type is not accepted. Use ed25519, ECDSA, a FIDO (sk-) key, or RSA of 3072 bits or more.",
                ));
            }
        };
        let openssh = key
            .to_openssh()
            .map_err(|_| FieldError::new(FIELD, "This key could not be read. Paste it again."))?;
        Ok(Self {
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
            algorithm: key.algorithm().as_str().to_string(),
            comment: key.comment().to_string(),
            bits,
            openssh,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl marie@laptop";

    #[test]
    fn an_ed25519_key_parses_with_its_fingerprint() -> Result<(), FieldError> {
        let key = SshPublicKey::parse(&format!("  {ED25519}\n"))?;
        assert_eq!(key.algorithm, "ssh-ed25519");
        assert_eq!(key.comment, "marie@laptop");
        assert!(key.fingerprint.starts_with("SHA256:"));
        assert_eq!(key.openssh, ED25519);
        Ok(())
    }

    #[test]
    fn junk_is_refused_with_a_reason() {
        let reason = |input: &str| SshPublicKey::parse(input).err().map(|e| e.message);
        assert!(reason("").is_some());
        assert!(reason("hello").is_some());
        assert!(
            reason(&format!("{ED25519}\n{ED25519}"))
                .unwrap_or_default()
                .starts_with("Paste one key at a time")
        );
        assert!(
            reason("-----BEGIN OPENSSH PRIVATE KEY-----")
                .unwrap_or_default()
                .starts_with("This is a private key")
        );
        assert!(
            reason(&"A".repeat(20_000))
                .unwrap_or_default()
                .starts_with("That is far too long")
        );
        let broken = ED25519.replace("AAAAC3Nza", "AAAAC3Nzb");
        assert!(
            reason(&broken)
                .unwrap_or_default()
                .starts_with("This is not a valid OpenSSH public key")
        );
    }

    #[test]
    fn rsa_bit_length_counts_significant_bits() {
        assert_eq!(rsa_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(rsa_bits(&[0x01, 0x00]), 9);
        assert_eq!(rsa_bits(&[]), 0);
    }
}

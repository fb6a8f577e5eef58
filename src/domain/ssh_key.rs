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

/// Longer comments are refused: they are labels, and LDAP and pages show them whole.
const MAX_COMMENT_CHARS: usize = 256;

/// Characters a comment may not hold: control characters (NUL, ESC, CR, LF...), line and
/// paragraph separators, and bidirectional overrides, which could forge lines in
/// `authorized_keys` output, terminal escapes, or text that reads differently than it is.
fn forbidden_in_comment(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{feff}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

fn check_comment(comment: &str) -> Result<(), FieldError> {
    if comment.chars().count() > MAX_COMMENT_CHARS {
        return Err(FieldError::new(
            FIELD,
            format!(
                "The key's comment (after the key itself) is too long: use at most {MAX_COMMENT_CHARS} characters."
            ),
        ));
    }
    if comment.chars().any(forbidden_in_comment) {
        return Err(FieldError::new(
            FIELD,
            "The key's comment holds control or invisible characters (such as escape codes or line breaks). Use plain text, e.g. you@laptop.",
        ));
    }
    Ok(())
}

/// What someone who pasted a private key is told.
pub const PRIVATE_KEY_ADVICE: &str = "This is a private key, which must never be shared. Paste your public key instead: the contents of the .pub file, e.g. ~/.ssh/id_ed25519.pub. If you have pasted this private key anywhere else, treat it as exposed: make a new key pair and stop using this one.";

impl SshPublicKey {
    /// Whether `input` holds a private key: PEM or OpenSSH (`-----BEGIN … PRIVATE KEY-----`),
    /// SSH2/ssh.com, or a PuTTY `.ppk` file. Such input must not be shown again or stored.
    pub fn looks_private(input: &str) -> bool {
        input.contains("PRIVATE KEY-----")
            || input.contains("PRIVATE KEY ----")
            || input.contains("PuTTY-User-Key-File-")
    }

    pub fn parse(input: &str) -> Result<Self, FieldError> {
        // First, before any other advice: a private key is never to be pasted or kept.
        if Self::looks_private(input) {
            return Err(FieldError::new(FIELD, PRIVATE_KEY_ADVICE));
        }
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
        check_comment(key.comment())?;
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
        for private in [
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n",
            "-----BEGIN EC PRIVATE KEY-----",
            "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----",
            "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n",
        ] {
            assert_eq!(
                reason(private).as_deref(),
                Some(PRIVATE_KEY_ADVICE),
                "{private}"
            );
        }
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
    fn comments_with_control_characters_or_too_long_are_refused() {
        let with_comment = |comment: &str| {
            let base = ED25519.trim_end_matches("marie@laptop");
            SshPublicKey::parse(&format!("{base}{comment}")).map(|key| key.comment)
        };
        assert_eq!(with_comment("ok comment").ok(), Some("ok comment".into()));
        for bad in ["a\u{0}b", "a\u{1b}[2Jb", "a\rb", "a\u{2028}b", "a\u{202e}b"] {
            assert!(with_comment(bad).is_err(), "{bad:?}");
        }
        assert!(with_comment(&"c".repeat(256)).is_ok());
        assert!(with_comment(&"c".repeat(257)).is_err());
    }

    #[test]
    fn rsa_bit_length_counts_significant_bits() {
        assert_eq!(rsa_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(rsa_bits(&[0x01, 0x00]), 9);
        assert_eq!(rsa_bits(&[]), 0);
    }
}

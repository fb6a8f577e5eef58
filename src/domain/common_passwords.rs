//! The 200,000 most common passwords (SecLists, MIT; see `data/common-passwords/`),
//! compiled into the binary and unpacked on first use.

use std::io::Read;
use std::sync::LazyLock;

const PACKED: &[u8] = include_bytes!("../../data/common-passwords/passwords.txt.gz");

/// Passwords published as examples, which no breach list ranks high enough yet but every
/// guesser tries: the xkcd 936 pair (famous since 2011).
const PUBLISHED_EXAMPLES: &[&str] = &["correcthorsebatterystaple", "tr0ub4dor&3"];

/// At most this many digits or symbols around a common password still make it common
/// ("Summer2023!!", "Monkey123456!").
const MAX_DECORATION: usize = 8;

/// The list, sorted and lowercased, for binary search.
static COMMON: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut text = String::new();
    // The file is part of the binary; it cannot fail to unpack unless the build is broken,
    // and then an empty list only means fewer refusals, never a crash.
    if flate2::read::GzDecoder::new(PACKED)
        .read_to_string(&mut text)
        .is_err()
    {
        text.clear();
    }
    let text: &'static str = Box::leak(text.into_boxed_str());
    text.lines().collect()
});

fn listed(candidate: &str) -> bool {
    COMMON.binary_search(&candidate).is_ok() || PUBLISHED_EXAMPLES.contains(&candidate)
}

/// How many passwords the list holds (for tests and the README).
pub fn common_password_count() -> usize {
    COMMON.len()
}

/// Whether a password is a common one, ignoring case and spaces, or a common one of at
/// least four letters with a few digits or symbols around it.
pub fn is_common_password(password: &str) -> bool {
    let folded: String = password
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    if listed(&folded) {
        return true;
    }
    let core = folded.trim_matches(|c: char| !c.is_alphabetic());
    let decoration = folded.chars().count() - core.chars().count();
    core.chars().count() >= 4 && decoration <= MAX_DECORATION && listed(core)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_large_and_sorted() {
        assert!(common_password_count() >= 100_000);
        assert!(COMMON.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn common_passwords_are_found_whatever_their_case_and_decoration() {
        for common in [
            "correct horse battery staple",
            "Summer2023!!",
            "Monkey123456!",
            "PASSWORD",
            "qwertyuiop123",
            "  iloveyou  ",
            "2023sunshine!",
        ] {
            assert!(is_common_password(common), "{common}");
        }
    }

    #[test]
    fn uncommon_passwords_pass() {
        for uncommon in [
            "plum tractor violin 42",
            "monkey8$kq!2#zP@9x",
            "Monkey0193847562!@#$",
            "x7#qL9!vR2@m",
        ] {
            assert!(!is_common_password(uncommon), "{uncommon}");
        }
    }
}

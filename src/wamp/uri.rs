//! URI checking (section 2.1.1): strict and loose rules, with or without empty components (patterns).

/// How strictly URIs are checked; configurable per realm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UriCheck {
    /// Components are `[0-9a-z_]+` (lower-case letters, digits, underscore).
    Strict,
    /// Components are any non-empty strings without whitespace, `.` or `#` (nor control characters:
    /// a URI starting with U+0000 would read as binary data in JSON, section 15.4).
    #[default]
    Loose,
}

/// Checks a URI used to publish, call, subscribe or register with exact matching.
pub fn is_valid(uri: &str, check: UriCheck) -> bool {
    check_components(uri, check, false)
}

/// Checks a URI pattern, which may contain empty components (prefix and wildcard patterns, 2.1.1).
pub fn is_valid_pattern(uri: &str, check: UriCheck) -> bool {
    check_components(uri, check, true)
}

fn check_components(uri: &str, check: UriCheck, allow_empty: bool) -> bool {
    if uri.is_empty() {
        return false;
    }
    if uri.is_ascii() {
        return check_ascii(uri.as_bytes(), check, allow_empty);
    }
    uri.split('.').all(|c| {
        if c.is_empty() {
            return allow_empty;
        }
        match check {
            UriCheck::Strict => c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            UriCheck::Loose => !c.chars().any(|ch| ch.is_whitespace() || ch.is_control() || ch == '#'),
        }
    })
}

/// [`check_components`] for an ASCII URI in one pass over its bytes (the common case, on every call and
/// publication).
fn check_ascii(uri: &[u8], check: UriCheck, allow_empty: bool) -> bool {
    let mut component_len = 0;
    for &b in uri {
        if b == b'.' {
            if component_len == 0 && !allow_empty {
                return false;
            }
            component_len = 0;
            continue;
        }
        let ok = match check {
            UriCheck::Strict => b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_',
            UriCheck::Loose => !(b.is_ascii_whitespace() || b.is_ascii_control() || b == b'#'),
        };
        if !ok {
            return false;
        }
        component_len += 1;
    }
    component_len > 0 || allow_empty
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_and_strict() {
        assert!(is_valid("com.myapp.topic1", UriCheck::Strict));
        assert!(!is_valid("com.myApp.topic1", UriCheck::Strict));
        assert!(is_valid("com.myApp.topic-1", UriCheck::Loose));
        assert!(!is_valid("com.my app.topic", UriCheck::Loose));
        assert!(!is_valid("com..topic", UriCheck::Loose));
        assert!(!is_valid("com.#.topic", UriCheck::Loose));
        assert!(!is_valid("", UriCheck::Loose));
        assert!(!is_valid(".com", UriCheck::Loose));
        assert!(!is_valid("com.\u{0}x", UriCheck::Loose), "control characters");
        assert!(is_valid_pattern("com..topic", UriCheck::Strict));
        assert!(!is_valid_pattern("com..Topic", UriCheck::Strict));
    }

    #[test]
    fn the_ascii_pass_agrees_with_the_general_one() {
        let general = |uri: &str, check, allow_empty| {
            uri.split('.').all(|c| {
                if c.is_empty() {
                    return allow_empty;
                }
                match check {
                    UriCheck::Strict => {
                        c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    }
                    UriCheck::Loose => {
                        !c.chars().any(|ch| ch.is_whitespace() || ch.is_control() || ch == '#')
                    }
                }
            })
        };
        let samples = [
            "a",
            ".",
            "..",
            "a.",
            ".a",
            "a..b",
            "a.b.c",
            "A.b",
            "a b",
            "a\tb",
            "a\u{b}b",
            "a\u{7f}",
            "a#b",
            "x-y.z_1",
            "com.myapp.topic1",
            "com.myApp.topic-1",
        ];
        for uri in samples {
            for check in [UriCheck::Strict, UriCheck::Loose] {
                for allow_empty in [false, true] {
                    let expected = general(uri, check, allow_empty);
                    assert_eq!(
                        check_ascii(uri.as_bytes(), check, allow_empty),
                        expected,
                        "{uri:?} {check:?}"
                    );
                }
            }
        }
    }
}

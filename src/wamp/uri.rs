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
}

//! URIs under a match policy (exact, prefix, wildcard: 12.5 and 11.8), and a table that finds every entry
//! a concrete URI matches (the broker: every matching subscription gets the event) or the one it matches
//! best (the dealer: a call goes to one registration). Broker and dealer keep one per realm and shard and
//! ask it on every PUBLISH or CALL, so a lookup allocates nothing and a realm without pattern entries pays
//! one hash lookup, as before patterns existed.
//!
//! - Exact entries: one hash map.
//! - Prefix entries (a plain string prefix, not a component prefix: `com.a` matches `com.ab`): one hash map
//!   of the prefixes and the sorted set of their lengths. A lookup tries each length once, so its cost is
//!   the number of *distinct* prefix lengths (bounded by the longest URI), not the number of prefixes.
//! - Wildcard entries: a trie of URI components where an empty pattern component is an "any" edge. A
//!   lookup follows the topic's component and the "any" edge at each level, so it visits only the
//!   branches patterns actually occupy.

use ahash::AHashMap;
use serde::Deserialize;

use crate::wamp::uri::{self, UriCheck};
use crate::wamp::{Dict, Value};

/// The longest prefix or wildcard pattern accepted. It bounds what patterns cost every publication or
/// call: a prefix lookup probes once per distinct prefix length that fits the URI, and the wildcard trie
/// is walked (recursively) one level per component.
pub const MAX_PATTERN_BYTES: usize = 256;

/// The most components a wildcard pattern may have: a publication or call walks at most this deep into the
/// wildcard trie, and each component is one trie node.
pub const MAX_WILDCARD_COMPONENTS: usize = 32;

/// How a URI pattern matches (SUBSCRIBE.Options.match, REGISTER.Options.match, permission rules).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum MatchPolicy {
    #[default]
    Exact,
    Prefix,
    Wildcard,
}

impl MatchPolicy {
    /// The policy an `Options.match` value names; `None` for an unknown one.
    pub fn parse(name: &str) -> Option<MatchPolicy> {
        match name {
            "exact" => Some(MatchPolicy::Exact),
            "prefix" => Some(MatchPolicy::Prefix),
            "wildcard" => Some(MatchPolicy::Wildcard),
            _ => None,
        }
    }

    /// The policy SUBSCRIBE or REGISTER options ask for: `exact` unless `match` says otherwise (its
    /// value was validated when the message was decoded).
    pub fn of(options: &Dict) -> MatchPolicy {
        options.get("match").and_then(Value::as_str).and_then(MatchPolicy::parse).unwrap_or_default()
    }

    /// Checks `uri` as a URI under this policy: patterns may have empty components (2.1.1), as
    /// wildcards and prefixes such as "com.myapp." do, are at most [`MAX_PATTERN_BYTES`] long, and
    /// wildcards have at most [`MAX_WILDCARD_COMPONENTS`] components.
    /// `Err` says why not.
    pub fn check(self, uri: &str, check: UriCheck) -> Result<(), String> {
        let valid = match self {
            MatchPolicy::Exact => uri::is_valid(uri, check),
            MatchPolicy::Prefix | MatchPolicy::Wildcard => uri::is_valid_pattern(uri, check),
        };
        if !valid {
            return Err(format!("{uri:?} is not a valid URI for {} matching", self.as_str()));
        }
        if self != MatchPolicy::Exact && uri.len() > MAX_PATTERN_BYTES {
            return Err(format!("a {} pattern may be at most {MAX_PATTERN_BYTES} bytes long", self.as_str()));
        }
        if self == MatchPolicy::Wildcard && uri.split('.').count() > MAX_WILDCARD_COMPONENTS {
            return Err(format!("a wildcard pattern may have at most {MAX_WILDCARD_COMPONENTS} components"));
        }
        Ok(())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MatchPolicy::Exact => "exact",
            MatchPolicy::Prefix => "prefix",
            MatchPolicy::Wildcard => "wildcard",
        }
    }
}

/// Values stored under (policy, URI) pattern keys.
#[derive(Debug)]
pub struct UriIndex<T> {
    exact: AHashMap<Box<str>, T>,
    prefix: PrefixTable<T>,
    wildcard: WildcardNode<T>,
    wildcards: usize,
}

impl<T> Default for UriIndex<T> {
    fn default() -> Self {
        UriIndex {
            exact: AHashMap::new(),
            prefix: PrefixTable::default(),
            wildcard: WildcardNode::default(),
            wildcards: 0,
        }
    }
}

impl<T> UriIndex<T> {
    /// The value under `(policy, uri)`, inserted by `make` if there is none.
    pub fn get_or_insert_with(&mut self, policy: MatchPolicy, uri: &str, make: impl FnOnce() -> T) -> &mut T {
        match policy {
            MatchPolicy::Exact => self.exact.entry(Box::from(uri)).or_insert_with(make),
            MatchPolicy::Prefix => self.prefix.get_or_insert_with(uri, make),
            MatchPolicy::Wildcard => {
                let node = self.wildcard.descend(uri);
                if node.value.is_none() {
                    self.wildcards += 1;
                }
                node.value.get_or_insert_with(make)
            }
        }
    }

    pub fn get(&self, policy: MatchPolicy, uri: &str) -> Option<&T> {
        match policy {
            MatchPolicy::Exact => self.exact.get(uri),
            MatchPolicy::Prefix => self.prefix.entries.get(uri),
            MatchPolicy::Wildcard => self.wildcard.find(Some(uri)),
        }
    }

    pub fn get_mut(&mut self, policy: MatchPolicy, uri: &str) -> Option<&mut T> {
        match policy {
            MatchPolicy::Exact => self.exact.get_mut(uri),
            MatchPolicy::Prefix => self.prefix.entries.get_mut(uri),
            MatchPolicy::Wildcard => self.wildcard.find_mut(Some(uri)),
        }
    }

    pub fn remove(&mut self, policy: MatchPolicy, uri: &str) -> Option<T> {
        match policy {
            MatchPolicy::Exact => self.exact.remove(uri),
            MatchPolicy::Prefix => self.prefix.remove(uri),
            MatchPolicy::Wildcard => {
                let removed = self.wildcard.remove(Some(uri));
                self.wildcards -= usize::from(removed.is_some());
                removed
            }
        }
    }

    /// The one entry a call to `uri` is routed to (11.8.3): the exact one, else the longest matching
    /// prefix, else the wildcard pattern whose fixed components run longest before its first wildcard
    /// (then before its second, and so on).
    pub fn best_match(&self, uri: &str) -> Option<(MatchPolicy, &T)> {
        if let Some(value) = self.exact.get(uri) {
            return Some((MatchPolicy::Exact, value));
        }
        if let Some(value) = self.prefix.longest_match(uri) {
            return Some((MatchPolicy::Prefix, value));
        }
        if self.wildcards == 0 {
            return None;
        }
        self.wildcard.first_match(Some(uri)).map(|value| (MatchPolicy::Wildcard, value))
    }

    /// Calls `visit` with every entry `uri` matches: the exact one, then prefixes from the shortest, then
    /// wildcard patterns.
    pub fn for_each_match(&self, uri: &str, mut visit: impl FnMut(MatchPolicy, &T)) {
        if let Some(value) = self.exact.get(uri) {
            visit(MatchPolicy::Exact, value);
        }
        self.prefix.for_each_match(uri, |value| visit(MatchPolicy::Prefix, value));
        if self.wildcards > 0 {
            self.wildcard.for_each_match(Some(uri), &mut |value| visit(MatchPolicy::Wildcard, value));
        }
    }
}

/// Prefix entries, and how many share each prefix length (ascending).
#[derive(Debug)]
struct PrefixTable<T> {
    entries: AHashMap<Box<str>, T>,
    lengths: Vec<(usize, usize)>,
}

impl<T> Default for PrefixTable<T> {
    fn default() -> Self {
        PrefixTable { entries: AHashMap::new(), lengths: Vec::new() }
    }
}

impl<T> PrefixTable<T> {
    fn get_or_insert_with(&mut self, prefix: &str, make: impl FnOnce() -> T) -> &mut T {
        if !self.entries.contains_key(prefix) {
            match self.lengths.binary_search_by_key(&prefix.len(), |(len, _)| *len) {
                Ok(i) => self.lengths[i].1 += 1,
                Err(i) => self.lengths.insert(i, (prefix.len(), 1)),
            }
        }
        self.entries.entry(Box::from(prefix)).or_insert_with(make)
    }

    fn remove(&mut self, prefix: &str) -> Option<T> {
        let removed = self.entries.remove(prefix)?;
        if let Ok(i) = self.lengths.binary_search_by_key(&prefix.len(), |(len, _)| *len) {
            self.lengths[i].1 -= 1;
            if self.lengths[i].1 == 0 {
                self.lengths.remove(i);
            }
        }
        Some(removed)
    }

    fn longest_match(&self, uri: &str) -> Option<&T> {
        let fitting = self.lengths.iter().rev().skip_while(|(len, _)| *len > uri.len());
        fitting.filter_map(|&(len, _)| uri.get(..len).and_then(|prefix| self.entries.get(prefix))).next()
    }

    fn for_each_match(&self, uri: &str, mut visit: impl FnMut(&T)) {
        for &(len, _) in &self.lengths {
            if len > uri.len() {
                break;
            }
            if let Some(value) = uri.get(..len).and_then(|prefix| self.entries.get(prefix)) {
                visit(value);
            }
        }
    }
}

/// One level of the wildcard trie. `rest` arguments are the URI's remaining components (`None` once all
/// are consumed), so walking never allocates.
#[derive(Debug)]
struct WildcardNode<T> {
    children: AHashMap<Box<str>, WildcardNode<T>>,
    /// The edge of an empty pattern component, which matches any one component.
    any: Option<Box<WildcardNode<T>>>,
    /// The entry whose pattern ends here.
    value: Option<T>,
}

impl<T> Default for WildcardNode<T> {
    fn default() -> Self {
        WildcardNode { children: AHashMap::new(), any: None, value: None }
    }
}

/// The first component of `rest`, and what follows it.
fn split_first(rest: &str) -> (&str, Option<&str>) {
    match rest.split_once('.') {
        Some((head, tail)) => (head, Some(tail)),
        None => (rest, None),
    }
}

impl<T> WildcardNode<T> {
    /// The node `pattern` ends at, created on the way.
    fn descend(&mut self, pattern: &str) -> &mut WildcardNode<T> {
        let mut node = self;
        let mut rest = Some(pattern);
        while let Some(components) = rest {
            let (head, tail) = split_first(components);
            node = if head.is_empty() {
                node.any.get_or_insert_with(Box::default)
            } else {
                node.children.entry(Box::from(head)).or_default()
            };
            rest = tail;
        }
        node
    }

    /// The edge a pattern component follows: its own, or "any" for an empty one.
    fn child(&self, head: &str) -> Option<&WildcardNode<T>> {
        if head.is_empty() {
            self.any.as_deref()
        } else {
            self.children.get(head)
        }
    }

    fn child_mut(&mut self, head: &str) -> Option<&mut WildcardNode<T>> {
        if head.is_empty() {
            self.any.as_deref_mut()
        } else {
            self.children.get_mut(head)
        }
    }

    fn find(&self, rest: Option<&str>) -> Option<&T> {
        match rest {
            None => self.value.as_ref(),
            Some(components) => {
                let (head, tail) = split_first(components);
                self.child(head)?.find(tail)
            }
        }
    }

    fn find_mut(&mut self, rest: Option<&str>) -> Option<&mut T> {
        match rest {
            None => self.value.as_mut(),
            Some(components) => {
                let (head, tail) = split_first(components);
                self.child_mut(head)?.find_mut(tail)
            }
        }
    }

    /// Removes the entry of `rest`'s pattern and prunes the branches left empty.
    fn remove(&mut self, rest: Option<&str>) -> Option<T> {
        let Some(components) = rest else {
            return self.value.take();
        };
        let (head, tail) = split_first(components);
        let child = self.child_mut(head)?;
        let removed = child.remove(tail);
        if child.is_empty() {
            if head.is_empty() {
                self.any = None;
            } else {
                self.children.remove(head);
            }
        }
        removed
    }

    fn is_empty(&self) -> bool {
        self.value.is_none() && self.any.is_none() && self.children.is_empty()
    }

    /// The match that follows concrete components as long as it can: trying a component's own branch
    /// before the "any" edge at every level ranks patterns by the lengths of their fixed runs, in order.
    fn first_match(&self, rest: Option<&str>) -> Option<&T> {
        let Some(components) = rest else {
            return self.value.as_ref();
        };
        let (head, tail) = split_first(components);
        let concrete = self.children.get(head).and_then(|child| child.first_match(tail));
        concrete.or_else(|| self.any.as_ref().and_then(|any| any.first_match(tail)))
    }

    fn for_each_match(&self, rest: Option<&str>, visit: &mut impl FnMut(&T)) {
        let Some(components) = rest else {
            if let Some(value) = &self.value {
                visit(value);
            }
            return;
        };
        let (head, tail) = split_first(components);
        if let Some(child) = self.children.get(head) {
            child.for_each_match(tail, visit);
        }
        if let Some(any) = &self.any {
            any.for_each_match(tail, visit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(index: &UriIndex<&'static str>, uri: &str) -> Vec<(MatchPolicy, &'static str)> {
        let mut found = Vec::new();
        index.for_each_match(uri, |policy, value| found.push((policy, *value)));
        found
    }

    #[test]
    fn the_specs_prefix_examples() {
        let mut index = UriIndex::default();
        index.get_or_insert_with(MatchPolicy::Prefix, "com.myapp.topic.emergency", || "p");
        for topic in [
            "com.myapp.topic.emergency.11",
            "com.myapp.topic.emergency-low",
            "com.myapp.topic.emergency.category.severe",
            "com.myapp.topic.emergency",
        ] {
            assert_eq!(matches(&index, topic), [(MatchPolicy::Prefix, "p")], "{topic}");
        }
        assert!(matches(&index, "com.myapp.topic.emerge").is_empty());
    }

    #[test]
    fn the_specs_wildcard_examples() {
        let mut index = UriIndex::default();
        index.get_or_insert_with(MatchPolicy::Wildcard, "com.myapp..userevent", || "w");
        for topic in ["com.myapp.foo.userevent", "com.myapp.bar.userevent", "com.myapp.a12.userevent"] {
            assert_eq!(matches(&index, topic), [(MatchPolicy::Wildcard, "w")], "{topic}");
        }
        for topic in
            ["com.myapp.foo.userevent.bar", "com.myapp.foo.user", "com.myapp2.foo.userevent", "com.myapp"]
        {
            assert!(matches(&index, topic).is_empty(), "{topic}");
        }
    }

    #[test]
    fn every_matching_entry_is_visited_once() {
        let mut index = UriIndex::default();
        index.get_or_insert_with(MatchPolicy::Exact, "a.b.c", || "exact");
        index.get_or_insert_with(MatchPolicy::Prefix, "a", || "p1");
        index.get_or_insert_with(MatchPolicy::Prefix, "a.b", || "p3");
        index.get_or_insert_with(MatchPolicy::Prefix, "a.x", || "other prefix");
        index.get_or_insert_with(MatchPolicy::Wildcard, "a..c", || "w1");
        index.get_or_insert_with(MatchPolicy::Wildcard, "..", || "w2");
        index.get_or_insert_with(MatchPolicy::Wildcard, "a.b.", || "w3");
        index.get_or_insert_with(MatchPolicy::Wildcard, "a.", || "too short");
        let mut found = matches(&index, "a.b.c");
        found.sort_by_key(|(_, v)| *v);
        let names: Vec<_> = found.iter().map(|(_, v)| *v).collect();
        assert_eq!(names, ["exact", "p1", "p3", "w1", "w2", "w3"]);
        assert_eq!((index.exact.len(), index.prefix.entries.len(), index.wildcards), (1, 3, 4));
    }

    #[test]
    fn the_same_uri_under_each_policy_is_a_separate_entry() {
        let mut index = UriIndex::default();
        *index.get_or_insert_with(MatchPolicy::Exact, "a.b", || 0) += 1;
        *index.get_or_insert_with(MatchPolicy::Prefix, "a.b", || 10) += 1;
        *index.get_or_insert_with(MatchPolicy::Wildcard, "a.b", || 20) += 1;
        *index.get_or_insert_with(MatchPolicy::Prefix, "a.b", || 99) += 1;
        assert_eq!(index.get_mut(MatchPolicy::Exact, "a.b").copied(), Some(1));
        assert_eq!(index.get_mut(MatchPolicy::Prefix, "a.b").copied(), Some(12));
        assert_eq!(index.get_mut(MatchPolicy::Wildcard, "a.b").copied(), Some(21));
        let mut found = Vec::new();
        index.for_each_match("a.b", |policy, v| found.push((policy, *v)));
        assert_eq!(found, [(MatchPolicy::Exact, 1), (MatchPolicy::Prefix, 12), (MatchPolicy::Wildcard, 21)]);
    }

    #[test]
    fn removal_prunes_and_keeps_the_rest() {
        let mut index = UriIndex::default();
        index.get_or_insert_with(MatchPolicy::Wildcard, "a..c", || "w1");
        index.get_or_insert_with(MatchPolicy::Wildcard, "a..c.d", || "w2");
        index.get_or_insert_with(MatchPolicy::Prefix, "a.", || "p1");
        index.get_or_insert_with(MatchPolicy::Prefix, "a.z", || "p2");
        assert_eq!(index.remove(MatchPolicy::Wildcard, "a..c"), Some("w1"));
        assert_eq!(index.remove(MatchPolicy::Wildcard, "a..c"), None);
        assert_eq!(index.remove(MatchPolicy::Wildcard, "a.b.c"), None, "a concrete URI is no pattern");
        assert_eq!(matches(&index, "a.b.c.d"), [(MatchPolicy::Prefix, "p1"), (MatchPolicy::Wildcard, "w2")]);
        assert_eq!(index.remove(MatchPolicy::Prefix, "a.z"), Some("p2"));
        assert_eq!(index.prefix.lengths, [(2, 1)]);
        assert_eq!(index.remove(MatchPolicy::Wildcard, "a..c.d"), Some("w2"));
        assert_eq!(index.remove(MatchPolicy::Prefix, "a."), Some("p1"));
        assert_eq!(index.wildcards, 0);
        assert!(index.prefix.entries.is_empty() && index.prefix.lengths.is_empty());
        assert!(index.wildcard.is_empty(), "no empty trie nodes left behind");
    }

    #[test]
    fn the_specs_best_match_examples() {
        let mut index = UriIndex::default();
        let registrations = [
            (MatchPolicy::Exact, "a1.b2.c3.d4.e55", 1),
            (MatchPolicy::Prefix, "a1.b2.c3", 2),
            (MatchPolicy::Prefix, "a1.b2.c3.d4", 3),
            (MatchPolicy::Wildcard, "a1.b2..d4.e5", 4),
            (MatchPolicy::Wildcard, "a1.b2.c33..e5", 5),
            (MatchPolicy::Wildcard, "a1.b2..d4.e5..g7", 6),
            (MatchPolicy::Wildcard, "a1.b2..d4..f6.g7", 7),
        ];
        for (policy, uri, rpc) in registrations {
            index.get_or_insert_with(policy, uri, || rpc);
        }
        fn best(index: &UriIndex<i32>, uri: &str) -> Option<i32> {
            index.best_match(uri).map(|(_, rpc)| *rpc)
        }
        assert_eq!(best(&index, "a1.b2.c3.d4.e55"), Some(1));
        assert_eq!(best(&index, "a1.b2.c3.d98.e74"), Some(2));
        assert_eq!(best(&index, "a1.b2.c3.d4.e325"), Some(3));
        assert_eq!(best(&index, "a1.b2.c55.d4.e5"), Some(4));
        // The spec expects RPC 5 here, but "a1.b2.c3" is a prefix of "a1.b2.c33...": 11.8.1 matches prefixes
        // as strings ("com.myapp.myobject1" matches "com.myapp.myobject1-mysubobject1"), as Crossbar does,
        // and so does this table. Without the prefix registrations, the wildcard ranking gives RPC 5.
        assert_eq!(best(&index, "a1.b2.c33.d4.e5"), Some(2));
        index.remove(MatchPolicy::Prefix, "a1.b2.c3");
        assert_eq!(best(&index, "a1.b2.c33.d4.e5"), Some(5));
        assert_eq!(best(&index, "a1.b2.c88.d4.e5.f6.g7"), Some(6));
        assert_eq!(best(&index, "a2.b2.c2.d2.e2"), None);
        // The spec's prefix examples (11.8.1).
        let mut index = UriIndex::default();
        index.get_or_insert_with(MatchPolicy::Prefix, "com.myapp.myobject1", || ());
        for uri in
            ["com.myapp.myobject1.myprocedure1", "com.myapp.myobject1-mysubobject1", "com.myapp.myobject1"]
        {
            assert!(index.best_match(uri).is_some(), "{uri}");
        }
        assert!(index.best_match("com.myapp.myobject").is_none());
    }

    #[test]
    fn prefixes_never_split_a_character() {
        let mut index = UriIndex::default();
        index.get_or_insert_with(MatchPolicy::Prefix, "a.é", || "p");
        index.get_or_insert_with(MatchPolicy::Prefix, "a.x", || "q");
        assert!(matches(&index, "a.éé").contains(&(MatchPolicy::Prefix, "p")));
        // "a.é" is 4 bytes; the 4-byte prefix of "a.€" ends inside '€'.
        assert!(matches(&index, "a.€").is_empty());
    }
}

//! Static authorization (section 13.6): a realm's roles and their permission rules, compiled once at start
//! into a form that answers "may this role do this action on this URI?" without walking the config. The
//! most specific rule wins, in the order the spec uses for pattern-based registrations (11.8): an exact
//! rule, else the longest matching prefix rule, else the matching wildcard rule with the most fixed
//! components (the first one listed among equals). A URI no rule matches is denied.

use ahash::AHashMap;
use serde::Deserialize;

use super::uri_index::MatchPolicy;

/// One role of a realm, as configured.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    pub name: String,
    /// A procedure (on the same realm) that decides every action of this role's sessions: the dynamic
    /// authorizer. Its answers are cached per session. Mutually exclusive with `permissions`.
    #[serde(default)]
    pub authorizer: Option<String>,
    #[serde(default)]
    pub permissions: Vec<PermissionConfig>,
}

/// One permission rule of a role.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PermissionConfig {
    /// The URI (exact), URI prefix or wildcard pattern (empty components match any one component).
    pub uri: String,
    #[serde(default, rename = "match")]
    pub match_policy: MatchPolicy,
    #[serde(default)]
    pub allow: AllowConfig,
    #[serde(default)]
    pub disclose: DiscloseConfig,
}

/// The actions a rule allows; each defaults to `false`.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AllowConfig {
    pub call: bool,
    pub register: bool,
    pub publish: bool,
    pub subscribe: bool,
}

/// Whether the router discloses the identity of this role's sessions: to callees when they call
/// (`caller`), to subscribers when they publish (`publisher`), whether or not they ask for it.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DiscloseConfig {
    pub caller: bool,
    pub publisher: bool,
}

/// What a session asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Call,
    Register,
    Publish,
    Subscribe,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Call => "call",
            Action::Register => "register",
            Action::Publish => "publish",
            Action::Subscribe => "subscribe",
        }
    }

    /// 0..4, for per-action slots.
    pub fn index(self) -> usize {
        match self {
            Action::Call => 0,
            Action::Register => 1,
            Action::Publish => 2,
            Action::Subscribe => 3,
        }
    }

    fn bit(self) -> u8 {
        1 << self.index()
    }
}

/// The answer for one action on one URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Deny,
    /// Allowed; `disclose`: reveal the session's identity to callees or subscribers.
    Allow {
        disclose: bool,
    },
}

/// Everything a rule says about one URI, for all four actions at once: what a cache keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Grants {
    allowed: u8,
    disclose_caller: bool,
    disclose_publisher: bool,
}

impl Grants {
    pub const ALL: Grants = Grants { allowed: 0b1111, disclose_caller: false, disclose_publisher: false };
    pub const NONE: Grants = Grants { allowed: 0, disclose_caller: false, disclose_publisher: false };

    /// What a dynamic authorizer answered for one action.
    pub fn single(action: Action, allow: bool, disclose: bool) -> Grants {
        Grants {
            allowed: if allow { action.bit() } else { 0 },
            disclose_caller: disclose && action == Action::Call,
            disclose_publisher: disclose && action == Action::Publish,
        }
    }

    fn from_rule(rule: &PermissionConfig) -> Grants {
        let a = rule.allow;
        let allowed = [(a.call, Action::Call), (a.register, Action::Register)]
            .into_iter()
            .chain([(a.publish, Action::Publish), (a.subscribe, Action::Subscribe)])
            .filter(|(on, _)| *on)
            .fold(0, |bits, (_, action)| bits | action.bit());
        Grants { allowed, disclose_caller: rule.disclose.caller, disclose_publisher: rule.disclose.publisher }
    }

    pub fn decide(self, action: Action) -> Decision {
        if self.allowed & action.bit() == 0 {
            return Decision::Deny;
        }
        let disclose = match action {
            Action::Call => self.disclose_caller,
            Action::Publish => self.disclose_publisher,
            Action::Register | Action::Subscribe => false,
        };
        Decision::Allow { disclose }
    }
}

/// The start every URI a wildcard pattern matches begins with: its components before the first empty one,
/// each with its dot (the whole pattern if it has no empty component).
fn wildcard_lead(pattern: &str) -> &str {
    let mut end = 0;
    for component in pattern.split('.') {
        if component.is_empty() {
            return &pattern[..end];
        }
        end += component.len() + 1;
    }
    pattern
}

/// A role's rules, compiled.
#[derive(Debug, Default)]
pub struct RoleRules {
    exact: AHashMap<String, Grants>,
    /// Longest prefix first.
    prefixes: Vec<(String, Grants)>,
    /// Most fixed components first; each pattern split into its components ("" = any).
    wildcards: Vec<(Vec<String>, Grants)>,
}

impl RoleRules {
    pub fn compile(rules: &[PermissionConfig]) -> RoleRules {
        let mut compiled = RoleRules::default();
        for rule in rules {
            let grants = Grants::from_rule(rule);
            match rule.match_policy {
                MatchPolicy::Exact => {
                    compiled.exact.entry(rule.uri.clone()).or_insert(grants);
                }
                MatchPolicy::Prefix => compiled.prefixes.push((rule.uri.clone(), grants)),
                MatchPolicy::Wildcard => {
                    compiled.wildcards.push((rule.uri.split('.').map(str::to_owned).collect(), grants))
                }
            }
        }
        // Stable sorts: among equals, the rule listed first wins.
        compiled.prefixes.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        compiled
            .wildcards
            .sort_by_key(|(parts, _)| std::cmp::Reverse(parts.iter().filter(|p| !p.is_empty()).count()));
        compiled
    }

    /// Whether some URI could be allowed anything: a role with only empty rules grants nothing.
    pub fn grants_everything(&self) -> bool {
        self.prefixes.iter().any(|(prefix, g)| prefix.is_empty() && *g == Grants::ALL)
            && self.exact.values().all(|g| *g == Grants::ALL)
            && self.prefixes.iter().all(|(_, g)| *g == Grants::ALL)
            && self.wildcards.iter().all(|(_, g)| *g == Grants::ALL)
    }

    /// What the role may do on *every* URI a prefix or wildcard `pattern` matches (a pattern SUBSCRIBE or
    /// REGISTER reaches them all): the actions that the rule deciding the pattern's whole range and every
    /// more specific rule that may decide a part of it all allow. Conservative: a rule that only might
    /// overlap still counts, and a range no single rule covers is denied.
    pub fn lookup_pattern(&self, policy: MatchPolicy, pattern: &str) -> Grants {
        // Every URI the pattern matches starts with `lead`.
        let lead = match policy {
            MatchPolicy::Exact => return self.lookup(pattern),
            MatchPolicy::Prefix => pattern,
            MatchPolicy::Wildcard => wildcard_lead(pattern),
        };
        let covering_prefix = self.prefixes.iter().find(|(prefix, _)| lead.starts_with(prefix.as_str()));
        let parts: Vec<&str> = pattern.split('.').collect();
        let covers = |rule: &[String]| {
            rule.len() == parts.len()
                && rule.iter().zip(&parts).all(|(r, p)| r.is_empty() || (r == p && !p.is_empty()))
        };
        let overlaps = |rule: &[String]| {
            rule.len() == parts.len()
                && rule.iter().zip(&parts).all(|(r, p)| r.is_empty() || p.is_empty() || r == p)
        };
        let (mut allowed, base) = match covering_prefix {
            Some((_, grants)) => (grants.allowed, *grants),
            None if policy == MatchPolicy::Wildcard => {
                match self.wildcards.iter().find(|(rule, _)| covers(rule)) {
                    Some((_, grants)) => {
                        // Without a covering prefix rule, wildcard rules decide: every one that may overlap counts.
                        let overlapping = self.wildcards.iter().filter(|(rule, _)| overlaps(rule));
                        (overlapping.fold(grants.allowed, |bits, (_, g)| bits & g.allowed), *grants)
                    }
                    None => return Grants::NONE,
                }
            }
            None => return Grants::NONE,
        };
        // More specific rules inside the range: exact URIs and longer prefixes under the lead.
        for (uri, grants) in &self.exact {
            if uri.starts_with(lead) {
                allowed &= grants.allowed;
            }
        }
        for (prefix, grants) in &self.prefixes {
            if prefix.starts_with(lead) {
                allowed &= grants.allowed;
            }
        }
        Grants { allowed, ..base }
    }

    /// What the most specific rule matching `uri` grants.
    pub fn lookup(&self, uri: &str) -> Grants {
        if let Some(grants) = self.exact.get(uri) {
            return *grants;
        }
        if let Some((_, grants)) = self.prefixes.iter().find(|(prefix, _)| uri.starts_with(prefix.as_str())) {
            return *grants;
        }
        let matches = |pattern: &[String]| {
            let mut components = uri.split('.');
            let fits = pattern.iter().all(|p| components.next().is_some_and(|c| p.is_empty() || p == c));
            fits && components.next().is_none()
        };
        self.wildcards.iter().find(|(pattern, _)| matches(pattern)).map_or(Grants::NONE, |(_, g)| *g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(uri: &str, policy: MatchPolicy, allow: AllowConfig) -> PermissionConfig {
        PermissionConfig { uri: uri.into(), match_policy: policy, allow, disclose: DiscloseConfig::default() }
    }

    const CALL: AllowConfig = AllowConfig { call: true, register: false, publish: false, subscribe: false };
    const PUBLISH: AllowConfig =
        AllowConfig { call: false, register: false, publish: true, subscribe: false };
    const NOTHING: AllowConfig =
        AllowConfig { call: false, register: false, publish: false, subscribe: false };

    #[test]
    fn a_pattern_is_allowed_only_where_every_rule_in_its_range_allows_it() {
        const SUB: AllowConfig =
            AllowConfig { subscribe: true, call: false, register: false, publish: false };
        let rules = RoleRules::compile(&[
            rule("com.", MatchPolicy::Prefix, SUB),
            rule("com.secret.", MatchPolicy::Prefix, NOTHING),
            rule("com.a", MatchPolicy::Exact, SUB),
            rule("org..news", MatchPolicy::Wildcard, SUB),
            rule("org.x.news", MatchPolicy::Exact, NOTHING),
        ]);
        let may = |policy, pattern| {
            rules.lookup_pattern(policy, pattern).decide(Action::Subscribe) != Decision::Deny
        };
        assert!(may(MatchPolicy::Prefix, "com.app."));
        assert!(!may(MatchPolicy::Prefix, "com."), "covers com.secret.");
        assert!(!may(MatchPolicy::Prefix, "com.s"), "may reach com.secret.");
        assert!(may(MatchPolicy::Wildcard, "com.app..x"));
        assert!(!may(MatchPolicy::Wildcard, "com..x"), "may reach com.secret.x");
        // An exact rule never allows a pattern: the prefix "com.a" reaches com.admin too.
        let exact_only = RoleRules::compile(&[rule("com.a", MatchPolicy::Exact, SUB)]);
        assert_eq!(exact_only.lookup_pattern(MatchPolicy::Prefix, "com.a"), Grants::NONE);
        // A wildcard rule allows the same or a narrower wildcard pattern, unless a rule inside denies.
        assert!(!may(MatchPolicy::Wildcard, "org..news"), "org.x.news is denied inside the range");
        let wild = RoleRules::compile(&[rule("org..news", MatchPolicy::Wildcard, SUB)]);
        let wild_may = |pattern| {
            wild.lookup_pattern(MatchPolicy::Wildcard, pattern).decide(Action::Subscribe) != Decision::Deny
        };
        assert!(wild_may("org..news"));
        assert!(!wild_may("org..new"), "outside the rule");
        assert!(!wild_may("..news"), "wider than the rule");
        assert!(
            wild.lookup_pattern(MatchPolicy::Prefix, "org.x.news").decide(Action::Subscribe)
                == Decision::Deny
        );
        assert_eq!(wildcard_lead("com.a..b"), "com.a.");
        assert_eq!(wildcard_lead("..b"), "");
        assert_eq!(wildcard_lead("a.b"), "a.b");
    }

    #[test]
    fn most_specific_rule_wins() {
        let rules = RoleRules::compile(&[
            rule("com.", MatchPolicy::Prefix, PUBLISH),
            rule("com.example.", MatchPolicy::Prefix, CALL),
            rule("com.example.secret", MatchPolicy::Exact, NOTHING),
            rule("com..update", MatchPolicy::Wildcard, CALL),
            rule("org..update", MatchPolicy::Wildcard, PUBLISH),
            rule("org.x.update", MatchPolicy::Wildcard, CALL),
        ]);
        let decide = |uri: &str, action| rules.lookup(uri).decide(action);
        assert_eq!(decide("com.example.add", Action::Call), Decision::Allow { disclose: false });
        assert_eq!(decide("com.example.add", Action::Publish), Decision::Deny, "longer prefix wins");
        assert_eq!(decide("com.other", Action::Publish), Decision::Allow { disclose: false });
        assert_eq!(decide("com.example.secret", Action::Call), Decision::Deny, "exact beats prefix");
        assert_eq!(decide("com.example.secretive", Action::Call), Decision::Allow { disclose: false });
        assert_eq!(
            decide("com.a.update", Action::Publish),
            Decision::Allow { disclose: false },
            "prefix beats wildcard"
        );
        assert_eq!(decide("org.a.update", Action::Publish), Decision::Allow { disclose: false });
        assert_eq!(
            decide("org.a.b.update", Action::Publish),
            Decision::Deny,
            "a wildcard component is one component"
        );
        assert_eq!(
            decide("org.x.update", Action::Call),
            Decision::Allow { disclose: false },
            "more fixed components win"
        );
        assert_eq!(decide("net.example", Action::Call), Decision::Deny, "no rule: denied");
    }

    #[test]
    fn disclosure_follows_the_rule_and_the_action() {
        let mut r = rule(
            "com.",
            MatchPolicy::Prefix,
            AllowConfig { call: true, register: true, publish: true, subscribe: true },
        );
        r.disclose = DiscloseConfig { caller: true, publisher: false };
        let rules = RoleRules::compile(&[r]);
        assert_eq!(rules.lookup("com.a").decide(Action::Call), Decision::Allow { disclose: true });
        assert_eq!(rules.lookup("com.a").decide(Action::Publish), Decision::Allow { disclose: false });
        assert_eq!(rules.lookup("com.a").decide(Action::Register), Decision::Allow { disclose: false });
    }

    #[test]
    fn a_catch_all_rule_grants_everything() {
        let all = AllowConfig { call: true, register: true, publish: true, subscribe: true };
        assert!(RoleRules::compile(&[rule("", MatchPolicy::Prefix, all)]).grants_everything());
        assert!(!RoleRules::compile(&[rule("com.", MatchPolicy::Prefix, all)]).grants_everything());
        assert!(!RoleRules::compile(&[
            rule("", MatchPolicy::Prefix, all),
            rule("a", MatchPolicy::Exact, CALL)
        ])
        .grants_everything());
    }

    #[test]
    fn roles_parse_from_toml() {
        let role: RoleConfig = toml::from_str(
            r#"
            name = "frontend"
            [[permissions]]
            uri = "com.example."
            match = "prefix"
            allow = { call = true, subscribe = true }
            disclose = { caller = true }
            "#,
        )
        .unwrap();
        assert_eq!(role.permissions[0].match_policy, MatchPolicy::Prefix);
        assert!(role.permissions[0].allow.call && !role.permissions[0].allow.publish);
        assert!(toml::from_str::<RoleConfig>("name = \"x\"\nbogus = 1").is_err());
    }
}

//! The error URIs an authentication ends with (section 13 and the error list in section 3.2). Kept here
//! rather than in `wamp::uris` so the authentication module owns what it answers.

/// The credentials did not check out (also the answer for an unknown authid, so the two look alike).
pub const AUTHENTICATION_FAILED: &str = "wamp.error.authentication_failed";
/// None of the methods in HELLO.Details.authmethods can be done on this realm.
pub const NO_AUTH_METHOD: &str = "wamp.error.no_auth_method";
/// The peer may not join (a dynamic authenticator may answer this).
pub const NOT_AUTHORIZED: &str = "wamp.error.not_authorized";
/// The role the peer was authenticated for does not exist (a dynamic authenticator may answer this).
pub const NO_SUCH_ROLE: &str = "wamp.error.no_such_role";
/// A message that does not fit the handshake's state (AUTHENTICATE before a CHALLENGE, twice, ...).
pub const PROTOCOL_VIOLATION: &str = "wamp.error.protocol_violation";

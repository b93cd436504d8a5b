//! The error and close URIs the router sends (sections 8 and 9).

pub const INVALID_URI: &str = "wamp.error.invalid_uri";
pub const NO_SUCH_PROCEDURE: &str = "wamp.error.no_such_procedure";
pub const PROCEDURE_ALREADY_EXISTS: &str = "wamp.error.procedure_already_exists";
/// A shared registration's REGISTER with another invocation policy (the spec names no URI; Crossbar's).
pub const OTHER_INVOCATION_POLICY: &str = "wamp.error.procedure_exists_with_different_invocation_policy";
pub const NO_SUCH_REGISTRATION: &str = "wamp.error.no_such_registration";
pub const NO_SUCH_SUBSCRIPTION: &str = "wamp.error.no_such_subscription";
pub const INVALID_ARGUMENT: &str = "wamp.error.invalid_argument";
pub const CANCELED: &str = "wamp.error.canceled";
pub const TIMEOUT: &str = "wamp.error.timeout";
pub const PAYLOAD_SIZE_EXCEEDED: &str = "wamp.error.payload_size_exceeded";
pub const PROTOCOL_VIOLATION: &str = "wamp.error.protocol_violation";
pub const NOT_AUTHORIZED: &str = "wamp.error.not_authorized";
pub const AUTHORIZATION_FAILED: &str = "wamp.error.authorization_failed";
pub const NO_SUCH_REALM: &str = "wamp.error.no_such_realm";
pub const NO_SUCH_ROLE: &str = "wamp.error.no_such_role";
pub const NO_SUCH_SESSION: &str = "wamp.error.no_such_session";
pub const AUTHENTICATION_FAILED: &str = "wamp.error.authentication_failed";
pub const NO_AUTH_METHOD: &str = "wamp.error.no_auth_method";

/// A request past one of the router's per-session limits (the spec defines no URI for this).
pub const LIMIT_EXCEEDED: &str = "switchyard.error.limit_exceeded";

pub const CLOSE_SYSTEM_SHUTDOWN: &str = "wamp.close.system_shutdown";
pub const CLOSE_REALM: &str = "wamp.close.close_realm";
pub const GOODBYE_AND_OUT: &str = "wamp.close.goodbye_and_out";

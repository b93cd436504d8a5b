//! The roles and features the router announces in WELCOME.Details.roles: exactly what is implemented.

use crate::dict;
use crate::wamp::Dict;

/// WELCOME.Details.roles.
pub fn router_roles() -> Dict {
    let broker = dict! {
        "publisher_exclusion" => true,
        "publisher_identification" => true,
        "subscriber_blackwhite_listing" => true,
        "pattern_based_subscription" => true,
    };
    let dealer = dict! {
        "caller_identification" => true,
        "call_timeout" => true,
        "call_canceling" => true,
        "shared_registration" => true,
        "pattern_based_registration" => true,
    };
    dict! {
        "broker" => dict! { "features" => broker },
        "dealer" => dict! { "features" => dealer },
    }
}

/// WELCOME.Details.agent.
pub const AGENT: &str = concat!("switchyard-", env!("CARGO_PKG_VERSION"));

//! ID generation (section 2.1.2): global-scope IDs drawn at random from `[1, 2^53]`, session-scope IDs
//! counted from 1.

use super::message::{Id, MAX_ID};
use rand::Rng;

/// A random ID in `[1, 2^53]`, for session and publication IDs (global scope).
pub fn random_id() -> Id {
    rand::thread_rng().gen_range(1..=MAX_ID)
}

/// Session-scope IDs: 1, 2, 3, ... wrapping back to 1 after 2^53.
#[derive(Debug, Default)]
pub struct SessionScopeIds {
    last: Id,
}

impl SessionScopeIds {
    pub fn next_id(&mut self) -> Id {
        self.last = if self.last >= MAX_ID { 1 } else { self.last + 1 };
        self.last
    }
}

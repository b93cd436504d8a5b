#![allow(dead_code, unused)]
use super::TransportInfo;
use crate::wamp::{Dict, Id, Value};
use std::sync::Arc;
#[derive(Debug, Clone, serde::Deserialize, PartialEq)]
pub struct Principal {
    pub authid: String,
    pub role: String,
}
#[derive(Debug, Clone, serde::Deserialize, PartialEq)]
pub struct AuthenticatorConfig {
    pub procedure: String,
    pub realm: Option<String>,
}
#[derive(Debug)]
pub struct RealmAuth {
    anonymous: bool,
}
impl RealmAuth {
    pub fn new(
        realm: &str,
        anonymous: bool,
        principals: &[Principal],
        authenticator: Option<&AuthenticatorConfig>,
    ) -> Result<RealmAuth, String> {
        Ok(RealmAuth { anonymous })
    }
    pub fn roles(&self) -> impl Iterator<Item = &str> {
        std::iter::empty()
    }
}
pub struct Identity {
    pub authid: String,
    pub authrole: String,
    pub authmethod: &'static str,
    pub authprovider: &'static str,
    pub authextra: Dict,
}
pub enum Outcome {
    Welcome(Identity),
    Challenge { authmethod: &'static str, extra: Dict },
    AskAuthenticator { realm: String, procedure: String, args: Vec<Value> },
    Abort { reason: &'static str, message: String },
}
#[derive(Debug)]
pub struct Handshake;
impl Handshake {
    pub fn hello(
        auth: &Arc<RealmAuth>,
        realm: &str,
        session: Id,
        details: &Dict,
        transport: &TransportInfo,
    ) -> (Handshake, Outcome) {
        if !auth.anonymous {
            return (Handshake, Outcome::Abort { reason: "wamp.error.not_authorized", message: "no".into() });
        }
        (
            Handshake,
            Outcome::Welcome(Identity {
                authid: format!("anonymous-{}", crate::wamp::ids::random_id()),
                authrole: "anonymous".into(),
                authmethod: "anonymous",
                authprovider: "static",
                authextra: Dict::new(),
            }),
        )
    }
    pub fn authenticate(&mut self, signature: &str, extra: &Dict) -> Outcome {
        Outcome::Abort { reason: "wamp.error.authentication_failed", message: "x".into() }
    }
    pub fn authenticator_answered(&mut self, answer: Result<(Vec<Value>, Dict), String>) -> Outcome {
        Outcome::Abort { reason: "wamp.error.authentication_failed", message: "x".into() }
    }
}

//! One session's authentication, from HELLO to WELCOME or ABORT, as a sans-I/O state machine: the router
//! hands in HELLO, AUTHENTICATE and the dynamic authenticator's answer, and sends what comes out
//! ([`Outcome`]).
//!
//! The method is the first one in HELLO.Details.authmethods that can work: the realm offers it (a
//! principal has that kind of credential, or the authenticator serves it) and, when the authid names a
//! static principal, that principal has the credential (clients such as autobahn Components offer every
//! method they are configured for, in their own order). An unknown authid gets a mock CHALLENGE for the
//! first method the realm offers, that looks like a real one and fails at AUTHENTICATE with the same ABORT
//! a wrong credential gets. So whether an authid exists shows only to a client that offers a method its
//! principal lacks (it is skipped for a known one, mocked for an unknown one).

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::VerifyingKey;
use rand::RngCore;

use super::config::ScramDialect;
use super::dynamic::{self, Rejection, Request};
use super::realm_auth::CompiledPrincipal;
use super::scram::{self, ScramSecret, TLS_EXPORTER};
use super::ticket::TicketVerifier;
use super::transport_info::TransportInfo;
use super::wampcra::{self, WampcraKey};
use super::{cryptosign, methods, uris};
use crate::wamp::{Dict, Id, Value};

pub use super::realm_auth::RealmAuth;

/// What a client is told when authentication fails, whatever failed.
const FAILED: &str = "authentication failed";

/// Who a session is, once authenticated.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub authid: String,
    pub authrole: String,
    pub authmethod: &'static str,
    /// "static" | "dynamic".
    pub authprovider: &'static str,
    /// WELCOME.Details.authextra.
    pub authextra: Dict,
}

/// What the router does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Welcome(Identity),
    Challenge {
        authmethod: &'static str,
        extra: Dict,
    },
    /// Call the dynamic authenticator: `procedure` on `realm` with positional args `args`
    /// (= [realm, authid, details]); feed its answer to [`Handshake::authenticator_answered`].
    AskAuthenticator {
        realm: String,
        procedure: String,
        args: Vec<Value>,
    },
    Abort {
        reason: &'static str,
        message: String,
    },
}

/// Who authenticates if the proof checks out.
#[derive(Debug, Clone)]
struct Candidate {
    authid: String,
    authrole: String,
    authprovider: &'static str,
    authextra: Dict,
    /// False for a mock exchange (unknown authid, key not authorized): it fails whatever the proof.
    genuine: bool,
}

impl Candidate {
    fn of(principal: &CompiledPrincipal) -> Candidate {
        Candidate {
            authid: principal.authid.clone(),
            authrole: principal.role.clone(),
            authprovider: methods::PROVIDER_STATIC,
            authextra: principal.authextra.clone(),
            genuine: true,
        }
    }

    fn mock(authid: &str, authrole: &str) -> Candidate {
        Candidate {
            authid: authid.to_owned(),
            authrole: authrole.to_owned(),
            authprovider: methods::PROVIDER_STATIC,
            authextra: Dict::new(),
            genuine: false,
        }
    }

    fn dynamic(answer: dynamic::Answer, default_authid: String) -> Candidate {
        Candidate {
            authid: answer.authid.unwrap_or(default_authid),
            authrole: answer.role,
            authprovider: methods::PROVIDER_DYNAMIC,
            authextra: answer.extra,
            genuine: true,
        }
    }

    fn welcome(self, authmethod: &'static str, method_extra: Dict) -> Outcome {
        let mut authextra = self.authextra;
        authextra.extend(method_extra);
        Outcome::Welcome(Identity {
            authid: self.authid,
            authrole: self.authrole,
            authmethod,
            authprovider: self.authprovider,
            authextra,
        })
    }
}

/// Who checks the ticket that AUTHENTICATE brings.
#[derive(Debug)]
enum TicketCheck {
    Static { verifier: TicketVerifier, candidate: Candidate },
    Dynamic,
    Mock,
}

/// What the authenticator was asked for, and what the handshake needs to go on with its answer.
#[derive(Debug)]
enum Asked {
    Ticket,
    Wampcra,
    Scram { dialect: ScramDialect, client_nonce: String, channel_binding: Option<[u8; 32]> },
    Cryptosign { key: VerifyingKey, channel_binding: Option<[u8; 32]> },
    Tls,
}

#[derive(Debug)]
enum State {
    AwaitTicket(TicketCheck),
    AwaitWampcra {
        candidate: Candidate,
        key: WampcraKey,
        challenge: String,
    },
    AwaitScram {
        candidate: Candidate,
        secret: ScramSecret,
        client_nonce: String,
        nonce: String,
        channel_binding: Option<[u8; 32]>,
    },
    AwaitCryptosign {
        candidate: Candidate,
        key: VerifyingKey,
        challenge: [u8; 32],
        channel_binding: Option<[u8; 32]>,
    },
    AwaitAuthenticator(Asked),
    Finished,
}

/// What HELLO asked for, by the method being tried.
enum Attempt {
    /// This method cannot be done for this HELLO; try the next.
    Skip,
    Done(Outcome),
}

/// One session's authentication between HELLO and WELCOME/ABORT.
#[derive(Debug)]
pub struct Handshake {
    auth: Arc<RealmAuth>,
    realm: String,
    session: Id,
    /// HELLO.Details.authid.
    authid: Option<String>,
    /// HELLO.Details.authextra.
    authextra: Dict,
    transport: TransportInfo,
    state: State,
}

impl Handshake {
    /// HELLO arrived. `session` is the session ID that WELCOME will carry (wampcra puts it in the
    /// challenge).
    pub fn hello(
        auth: &Arc<RealmAuth>,
        realm: &str,
        session: Id,
        details: &Dict,
        transport: &TransportInfo,
    ) -> (Handshake, Outcome) {
        let mut handshake = Handshake {
            auth: Arc::clone(auth),
            realm: realm.to_owned(),
            session,
            authid: details
                .get("authid")
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
                .map(str::to_owned),
            authextra: details.get("authextra").and_then(Value::as_dict).cloned().unwrap_or_default(),
            transport: transport.clone(),
            state: State::Finished,
        };
        let offered: Vec<&str> = details
            .get("authmethods")
            .and_then(Value::as_list)
            .map(|list| list.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let offered = if offered.is_empty() { vec![methods::ANONYMOUS] } else { offered };
        for method in offered {
            if let Attempt::Done(outcome) = handshake.attempt(method) {
                return (handshake, outcome);
            }
        }
        let outcome = Outcome::Abort {
            reason: uris::NO_AUTH_METHOD,
            message: "none of the offered authentication methods is available on this realm".into(),
        };
        (handshake, outcome)
    }

    /// AUTHENTICATE arrived.
    pub fn authenticate(&mut self, signature: &str, extra: &Dict) -> Outcome {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::AwaitTicket(check) => self.check_ticket(check, signature),
            State::AwaitWampcra { candidate, key, challenge } => {
                let valid = key.verify(&challenge, signature);
                self.conclude(candidate, valid, methods::WAMPCRA, Dict::new())
            }
            State::AwaitScram { candidate, secret, client_nonce, nonce, channel_binding } => {
                self.check_scram(candidate, &secret, &client_nonce, &nonce, channel_binding, signature, extra)
            }
            State::AwaitCryptosign { candidate, key, challenge, channel_binding } => {
                let valid = cryptosign::verify(&key, &challenge, channel_binding.as_ref(), signature);
                self.conclude(candidate, valid, methods::CRYPTOSIGN, Dict::new())
            }
            State::AwaitAuthenticator(_) | State::Finished => {
                protocol_violation("AUTHENTICATE without a pending CHALLENGE")
            }
        }
    }

    /// The dynamic authenticator answered: Ok((args, kwargs)) from its RESULT, or Err(error URI) from
    /// its ERROR (or when it is not registered / timed out).
    pub fn authenticator_answered(&mut self, answer: Result<(Vec<Value>, Dict), String>) -> Outcome {
        let asked = match std::mem::replace(&mut self.state, State::Finished) {
            State::AwaitAuthenticator(asked) => asked,
            other => {
                self.state = other;
                return protocol_violation("an authenticator answer nobody asked for");
            }
        };
        let answer = match dynamic::parse_answer(answer) {
            Ok(answer) => answer,
            Err(Rejection::Denied(reason)) => {
                tracing::debug!(realm = %self.realm, authid = ?self.authid, reason, "the dynamic authenticator denied");
                return Outcome::Abort { reason, message: FAILED.into() };
            }
            Err(Rejection::Malformed(problem)) => return self.authenticator_misbehaved(&problem),
        };
        match asked {
            Asked::Ticket => self.dynamic_candidate(answer, None).welcome(methods::TICKET, Dict::new()),
            Asked::Tls => {
                let fallback = self.certificate_authid();
                self.dynamic_candidate(answer, fallback).welcome(methods::TLS, Dict::new())
            }
            Asked::Wampcra => match dynamic::wampcra_key(&answer.fields) {
                Ok(key) => {
                    let candidate = self.dynamic_candidate(answer, None);
                    self.wampcra_challenge(candidate, key)
                }
                Err(problem) => self.authenticator_misbehaved(&problem),
            },
            Asked::Scram { dialect, client_nonce, channel_binding } => {
                match dynamic::scram_secret(&answer.fields, dialect) {
                    Ok(secret) => {
                        let candidate = self.dynamic_candidate(answer, None);
                        self.scram_challenge(candidate, secret, client_nonce, channel_binding)
                    }
                    Err(problem) => self.authenticator_misbehaved(&problem),
                }
            }
            Asked::Cryptosign { key, channel_binding } => {
                match dynamic::accepts_public_key(&answer.fields, &key) {
                    Ok(()) => {
                        let fallback = Some(hex::encode(key.to_bytes()));
                        let candidate = self.dynamic_candidate(answer, fallback);
                        self.cryptosign_challenge(candidate, key, channel_binding)
                    }
                    Err(problem) => self.authenticator_misbehaved(&problem),
                }
            }
        }
    }

    /// Tries one offered method.
    fn attempt(&mut self, method: &str) -> Attempt {
        match method {
            methods::ANONYMOUS if self.auth.anonymous => Attempt::Done(Outcome::Welcome(Identity {
                authid: format!("anonymous-{}", crate::wamp::ids::random_id()),
                authrole: methods::ANONYMOUS.into(),
                authmethod: methods::ANONYMOUS,
                authprovider: methods::PROVIDER_STATIC,
                authextra: Dict::new(),
            })),
            methods::TICKET if self.auth.offers(methods::TICKET) => self.start_ticket(),
            methods::WAMPCRA if self.auth.offers(methods::WAMPCRA) => self.start_wampcra(),
            methods::SCRAM if self.auth.offers(methods::SCRAM) => self.start_scram(ScramDialect::Spec),
            methods::SCRAM_AUTOBAHN if self.auth.offers(methods::SCRAM_AUTOBAHN) => {
                self.start_scram(ScramDialect::Autobahn)
            }
            methods::CRYPTOSIGN if self.auth.offers(methods::CRYPTOSIGN) => self.start_cryptosign(),
            methods::TLS if self.auth.offers(methods::TLS) => self.start_tls(),
            _ => Attempt::Skip,
        }
    }

    fn start_ticket(&mut self) -> Attempt {
        let Some(authid) = self.authid.as_deref() else {
            return Attempt::Skip;
        };
        let check = match self.auth.principal(authid) {
            Some(principal) => match &principal.ticket {
                Some(verifier) => {
                    TicketCheck::Static { verifier: verifier.clone(), candidate: Candidate::of(principal) }
                }
                None if self.auth.authenticator_serves(methods::TICKET) => TicketCheck::Dynamic,
                None => return Attempt::Skip,
            },
            _ if self.auth.authenticator_serves(methods::TICKET) => TicketCheck::Dynamic,
            _ => TicketCheck::Mock,
        };
        self.state = State::AwaitTicket(check);
        Attempt::Done(Outcome::Challenge { authmethod: methods::TICKET, extra: Dict::new() })
    }

    fn start_wampcra(&mut self) -> Attempt {
        let Some(authid) = self.authid.clone() else {
            return Attempt::Skip;
        };
        let outcome = match self.auth.principal(&authid) {
            Some(principal) if principal.wampcra.is_some() => {
                let key = principal.wampcra.clone().expect("checked above");
                self.wampcra_challenge(Candidate::of(principal), key)
            }
            _ if self.auth.authenticator_serves(methods::WAMPCRA) => {
                self.ask(methods::WAMPCRA, Asked::Wampcra, None)
            }
            Some(_) => return Attempt::Skip,
            None => {
                let decoys = &self.auth.decoys;
                let candidate = Candidate::mock(&authid, decoys.wampcra_role());
                let key = decoys.wampcra_key(&authid);
                self.wampcra_challenge(candidate, key)
            }
        };
        Attempt::Done(outcome)
    }

    /// Either dialect. autobahn's has no channel binding: its HELLO may still carry a channel_binding
    /// (authextra is merged over all of a client's authenticators, cryptosign's included), which it
    /// does not apply to SCRAM, so it is ignored there.
    fn start_scram(&mut self, dialect: ScramDialect) -> Attempt {
        let Some(authid) = self.authid.clone() else {
            return Attempt::Skip;
        };
        let Some(client_nonce) = self.authextra.get("nonce").and_then(Value::as_str).map(str::to_owned)
        else {
            return Attempt::Skip;
        };
        if !scram::is_valid_nonce(&client_nonce) {
            return Attempt::Done(failed("HELLO.Details.authextra.nonce is not a valid WAMP-SCRAM nonce"));
        }
        let channel_binding = match self.authextra.get("channel_binding") {
            _ if dialect == ScramDialect::Autobahn => None,
            None | Some(Value::Null) => None,
            Some(Value::Str(kind)) if kind == TLS_EXPORTER => match self.exporter() {
                Some(data) => Some(data),
                None => {
                    return Attempt::Done(failed(
                        "channel binding tls-exporter is not available on this transport",
                    ))
                }
            },
            Some(_) => {
                return Attempt::Done(failed(
                    "the requested channel binding is not supported (only tls-exporter)",
                ))
            }
        };
        let method = dialect.authmethod();
        let principal = self.auth.principal(&authid);
        let outcome = match principal.and_then(|p| p.scram.as_ref().filter(|s| s.dialect == dialect)) {
            Some(secret) => {
                let candidate = Candidate::of(principal.expect("the secret is the principal's"));
                self.scram_challenge(candidate, secret.clone(), client_nonce, channel_binding)
            }
            None if self.auth.authenticator_serves(method) => {
                self.ask(method, Asked::Scram { dialect, client_nonce, channel_binding }, None)
            }
            None if principal.is_some() => return Attempt::Skip,
            None => {
                let candidate = Candidate::mock(&authid, methods::ANONYMOUS);
                let secret = self.auth.decoys.scram_secret(&authid, dialect);
                self.scram_challenge(candidate, secret, client_nonce, channel_binding)
            }
        };
        Attempt::Done(outcome)
    }

    fn start_cryptosign(&mut self) -> Attempt {
        let Some(key_text) = self.authextra.get("pubkey").and_then(Value::as_str) else {
            return Attempt::Skip;
        };
        let key = match cryptosign::parse_public_key(key_text) {
            Ok(key) => key,
            Err(_) => {
                return Attempt::Done(failed(
                    "HELLO.Details.authextra.pubkey is not an Ed25519 public key in hex",
                ))
            }
        };
        // Only tls-exporter can be bound; anything else (tls-unique, no TLS) goes on unbound, and the
        // CHALLENGE says so with channel_binding null (section 13.4.2).
        let channel_binding = match self.authextra.get("channel_binding").and_then(Value::as_str) {
            Some(TLS_EXPORTER) => self.exporter(),
            _ => None,
        };
        let known = match self.authid.as_deref() {
            Some(authid) => match self.auth.principal(authid) {
                Some(p)
                    if p.cryptosign_keys.is_empty()
                        && !self.auth.authenticator_serves(methods::CRYPTOSIGN) =>
                {
                    return Attempt::Skip
                }
                principal => principal.filter(|p| !p.cryptosign_keys.is_empty()),
            },
            None => self.auth.principal_by_public_key(&key),
        };
        let outcome = match known {
            Some(principal) => {
                let mut candidate = Candidate::of(principal);
                candidate.genuine = principal.cryptosign_keys.contains(&key);
                self.cryptosign_challenge(candidate, key, channel_binding)
            }
            None if self.auth.authenticator_serves(methods::CRYPTOSIGN) => {
                self.ask(methods::CRYPTOSIGN, Asked::Cryptosign { key, channel_binding }, None)
            }
            None => {
                let authid = self.authid.clone().unwrap_or_else(|| hex::encode(key.to_bytes()));
                self.cryptosign_challenge(Candidate::mock(&authid, methods::ANONYMOUS), key, channel_binding)
            }
        };
        Attempt::Done(outcome)
    }

    fn start_tls(&mut self) -> Attempt {
        let Some(certificate) = self.transport.tls.as_ref().and_then(|t| t.client_cert_sha256) else {
            return Attempt::Skip;
        };
        let outcome = match self.auth.principal_by_certificate(&certificate) {
            Some(principal) if self.authid.as_deref().is_none_or(|authid| authid == principal.authid) => {
                Candidate::of(principal).welcome(methods::TLS, Dict::new())
            }
            Some(principal) => {
                tracing::debug!(realm = %self.realm, authid = ?self.authid, owner = %principal.authid, "the client certificate belongs to another authid");
                failed(FAILED)
            }
            None if self.auth.authenticator_serves(methods::TLS) => self.ask(methods::TLS, Asked::Tls, None),
            None => {
                tracing::debug!(realm = %self.realm, authid = ?self.authid, "the client certificate is not known");
                failed(FAILED)
            }
        };
        Attempt::Done(outcome)
    }

    fn check_ticket(&mut self, check: TicketCheck, ticket: &str) -> Outcome {
        match check {
            TicketCheck::Static { verifier, candidate } => {
                let valid = verifier.verify(ticket);
                self.conclude(candidate, valid, methods::TICKET, Dict::new())
            }
            TicketCheck::Dynamic => self.ask(methods::TICKET, Asked::Ticket, Some(ticket)),
            TicketCheck::Mock => {
                self.auth.decoys.waste_ticket_check(ticket);
                let authid = self.authid.clone().unwrap_or_default();
                self.conclude(
                    Candidate::mock(&authid, methods::ANONYMOUS),
                    false,
                    methods::TICKET,
                    Dict::new(),
                )
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn check_scram(
        &mut self,
        candidate: Candidate,
        secret: &ScramSecret,
        client_nonce: &str,
        nonce: &str,
        channel_binding: Option<[u8; 32]>,
        proof: &str,
        extra: &Dict,
    ) -> Outcome {
        if secret.dialect == ScramDialect::Autobahn {
            return self.check_autobahn_scram(candidate, secret, client_nonce, nonce, proof);
        }
        if extra.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return self.conclude(candidate, false, methods::SCRAM, Dict::new());
        }
        let binding_name = match extra.get("channel_binding") {
            None | Some(Value::Null) => None,
            Some(Value::Str(name)) => Some(name.as_str()),
            Some(_) => return self.conclude(candidate, false, methods::SCRAM, Dict::new()),
        };
        let binding_data = match extra.get("cbind_data") {
            None | Some(Value::Null) => None,
            Some(Value::Str(data)) => BASE64.decode(data).ok(),
            Some(_) => None,
        };
        let binding_matches = match (channel_binding, binding_name, &binding_data) {
            (None, None, None) => true,
            (Some(expected), Some(TLS_EXPORTER), Some(data)) => {
                super::constant_time::fixed_equal(&expected, data)
            }
            _ => false,
        };
        if !binding_matches {
            return self.conclude(candidate, false, methods::SCRAM, Dict::new());
        }
        let authid = self.authid.clone().unwrap_or_default();
        let auth_message = scram::auth_message(&scram::Exchange {
            authid: &authid,
            client_nonce,
            nonce,
            salt: &secret.salt,
            iterations: secret.iterations,
            channel_binding: channel_binding.as_ref().map(|data| (TLS_EXPORTER, &data[..])),
        });
        match scram::verify_client_proof(&secret.stored_key, &secret.server_key, &auth_message, proof) {
            Some(server_signature) => {
                let verifier = crate::dict! { "verifier" => BASE64.encode(server_signature) };
                self.conclude(candidate, true, methods::SCRAM, verifier)
            }
            None => self.conclude(candidate, false, methods::SCRAM, Dict::new()),
        }
    }

    /// autobahn's dialect: AUTHENTICATE carries the proof only (its extra is empty), and WELCOME the
    /// ServerSignature as authextra.scram_server_signature.
    fn check_autobahn_scram(
        &mut self,
        candidate: Candidate,
        secret: &ScramSecret,
        client_nonce: &str,
        nonce: &str,
        proof: &str,
    ) -> Outcome {
        let authid = self.authid.clone().unwrap_or_default();
        let server_signature =
            scram::autobahn_auth_message(&authid, client_nonce, nonce, &secret.salt, secret.iterations)
                .and_then(|message| {
                    scram::verify_client_proof(&secret.stored_key, &secret.server_key, &message, proof)
                });
        match server_signature {
            Some(signature) => {
                let extra = crate::dict! { "scram_server_signature" => BASE64.encode(signature) };
                self.conclude(candidate, true, methods::SCRAM_AUTOBAHN, extra)
            }
            None => self.conclude(candidate, false, methods::SCRAM_AUTOBAHN, Dict::new()),
        }
    }

    /// WELCOME if the proof checked out for a genuine candidate, else the one ABORT every failure gets.
    fn conclude(
        &self,
        candidate: Candidate,
        proof_valid: bool,
        authmethod: &'static str,
        method_extra: Dict,
    ) -> Outcome {
        if proof_valid && candidate.genuine {
            tracing::debug!(realm = %self.realm, authid = %candidate.authid, authmethod, "authenticated");
            candidate.welcome(authmethod, method_extra)
        } else {
            tracing::debug!(
                realm = %self.realm,
                authid = %candidate.authid,
                authmethod,
                known = candidate.genuine,
                "authentication failed"
            );
            failed(FAILED)
        }
    }

    fn wampcra_challenge(&mut self, candidate: Candidate, key: WampcraKey) -> Outcome {
        let challenge = wampcra::challenge_string(&wampcra::ChallengeSubject {
            authid: &candidate.authid,
            authrole: &candidate.authrole,
            authprovider: candidate.authprovider,
            session: self.session,
        });
        let extra = wampcra::challenge_extra(&challenge, &key);
        self.state = State::AwaitWampcra { candidate, key, challenge };
        Outcome::Challenge { authmethod: methods::WAMPCRA, extra }
    }

    fn scram_challenge(
        &mut self,
        candidate: Candidate,
        secret: ScramSecret,
        client_nonce: String,
        channel_binding: Option<[u8; 32]>,
    ) -> Outcome {
        let mut server_nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut server_nonce);
        let nonce = format!("{client_nonce}{}", BASE64.encode(server_nonce));
        let extra = secret.challenge_extra(&nonce);
        let authmethod = secret.dialect.authmethod();
        self.state = State::AwaitScram { candidate, secret, client_nonce, nonce, channel_binding };
        Outcome::Challenge { authmethod, extra }
    }

    fn cryptosign_challenge(
        &mut self,
        candidate: Candidate,
        key: VerifyingKey,
        channel_binding: Option<[u8; 32]>,
    ) -> Outcome {
        let challenge = cryptosign::new_challenge();
        let extra = crate::dict! {
            "challenge" => hex::encode(challenge),
            "channel_binding" => if channel_binding.is_some() { Value::from(TLS_EXPORTER) } else { Value::Null },
        };
        self.state = State::AwaitCryptosign { candidate, key, challenge, channel_binding };
        Outcome::Challenge { authmethod: methods::CRYPTOSIGN, extra }
    }

    fn ask(&mut self, method: &'static str, asked: Asked, ticket: Option<&str>) -> Outcome {
        let Some(authenticator) = self.auth.authenticator.as_ref() else {
            return failed(FAILED);
        };
        let request = Request {
            method,
            authid: self.authid.as_deref(),
            authextra: &self.authextra,
            session: self.session,
            transport: &self.transport,
            ticket,
        };
        let args = dynamic::call_arguments(&self.realm, &request);
        let outcome = Outcome::AskAuthenticator {
            realm: authenticator.realm.clone(),
            procedure: authenticator.procedure.clone(),
            args,
        };
        self.state = State::AwaitAuthenticator(asked);
        outcome
    }

    fn dynamic_candidate(&self, answer: dynamic::Answer, fallback_authid: Option<String>) -> Candidate {
        let default_authid = self.authid.clone().or(fallback_authid).unwrap_or_default();
        Candidate::dynamic(answer, default_authid)
    }

    /// The authid a dynamically admitted certificate gets when neither HELLO nor the answer names one:
    /// the certificate's CN, else its digest.
    fn certificate_authid(&self) -> Option<String> {
        let tls = self.transport.tls.as_deref()?;
        tls.client_cert_cn.clone().or_else(|| tls.client_cert_sha256.map(hex::encode))
    }

    fn authenticator_misbehaved(&self, problem: &str) -> Outcome {
        tracing::warn!(realm = %self.realm, authid = ?self.authid, problem, "the dynamic authenticator's answer is unusable");
        failed(FAILED)
    }

    fn exporter(&self) -> Option<[u8; 32]> {
        self.transport.tls.as_ref().and_then(|t| t.channel_binding_exporter)
    }
}

fn failed(message: &str) -> Outcome {
    Outcome::Abort { reason: uris::AUTHENTICATION_FAILED, message: message.into() }
}

fn protocol_violation(message: &str) -> Outcome {
    Outcome::Abort { reason: uris::PROTOCOL_VIOLATION, message: message.into() }
}

#[cfg(test)]
#[path = "handshake_tests.rs"]
mod tests;

//! The `sessions` scenario's results: the tally of failures (counted by kind, the first few kept in full)
//! that the workers and the parent add to, the aggregated numbers and the problems they show, as a human
//! summary and as one line of JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::cpu::CpuUsage;
use crate::report::RouterCpu;

/// How many failures are kept in full (a dying router fails every session at once).
const KEPT: usize = 20;

/// Failures counted by kind (stage and cause, e.g. `connect: Connection refused (os error 111)`), with the
/// first [`KEPT`] in full (naming the session).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct FailureTally {
    pub count: u64,
    pub kinds: BTreeMap<String, u64>,
    pub first: Vec<String>,
}

impl FailureTally {
    pub fn add(&mut self, kind: String, detail: String) {
        self.count += 1;
        *self.kinds.entry(kind).or_insert(0) += 1;
        if self.first.len() < KEPT {
            self.first.push(detail);
        }
    }

    pub fn merge(&mut self, other: FailureTally) {
        self.count += other.count;
        for (kind, n) in other.kinds {
            *self.kinds.entry(kind).or_insert(0) += n;
        }
        let room = KEPT.saturating_sub(self.first.len());
        self.first.extend(other.first.into_iter().take(room));
    }
}

#[derive(Debug, Serialize)]
pub struct SessionsReport {
    pub scenario: &'static str,
    pub url: String,
    pub transport: &'static str,
    pub serializer: &'static str,
    pub realm: String,
    /// Sessions asked for (`--sessions`).
    pub sessions: u64,
    pub processes: u32,
    pub source_addresses: u32,
    /// Sessions being set up at once, at most, in all.
    pub in_flight: u32,
    pub topics: u32,
    /// Sessions that completed HELLO -> WELCOME, SUBSCRIBE -> SUBSCRIBED and REGISTER -> REGISTERED.
    pub established: u64,
    /// From the first connect to the moment the last session was set up (or failed), over all workers.
    pub connect_s: f64,
    /// Sessions established per second of `connect_s`.
    pub connect_rate: f64,
    /// The slowest session's setup, from its connect to its last reply, in milliseconds.
    pub max_setup_ms: f64,
    pub router_pid: Option<u32>,
    /// The router's VmRSS before the first session.
    pub rss_before_kib: Option<u64>,
    /// The router's VmRSS once every session was set up.
    pub rss_after_kib: Option<u64>,
    /// (rss_after - rss_before) / established.
    pub rss_per_session_bytes: Option<f64>,
    /// The router's VmRSS `settle_s` after every session closed.
    pub rss_closed_kib: Option<u64>,
    pub settle_s: f64,
    /// The router's CPU time while the sessions were being set up.
    pub router_cpu_connecting: Option<RouterCpu>,
    /// One verification event per session.
    pub events_expected: u64,
    /// Sessions that received their verification event.
    pub events_received: u64,
    /// Events beyond one per session.
    pub duplicate_events: u64,
    /// Procedures called at the end (a sample).
    pub calls: u64,
    /// Calls answered with RESULT (the callee's YIELD).
    pub calls_answered: u64,
    /// INVOCATIONs the sessions answered.
    pub invocations: u64,
    /// Sessions ended with a GOODBYE exchange.
    pub goodbyes: u64,
    /// From the first GOODBYE sent to the last connection closed, over all workers.
    pub close_s: f64,
    /// The worker processes' CPU use while setting up sessions (summed; 100% is one core).
    pub loadtest_cpu_connecting: CpuUsage,
    /// The worker processes' CPU time over their whole lives, in seconds.
    pub loadtest_cpu_total_s: f64,
    /// Every failure, counted by kind.
    pub failure_kinds: BTreeMap<String, u64>,
    /// The first failures in full.
    pub failures: Vec<String>,
    pub failure_count: u64,
    /// What the numbers show to be wrong.
    pub problems: Vec<String>,
    pub ok: bool,
}

impl SessionsReport {
    /// Fills in `problems` and `ok` from the numbers and failures.
    pub fn judge(&mut self) {
        let mut problems = Vec::new();
        if self.established < self.sessions {
            problems
                .push(format!("only {} of {} sessions were established", self.established, self.sessions));
        }
        if self.events_received < self.events_expected {
            problems.push(format!(
                "LOSS: {} of {} sessions did not get the verification event",
                self.events_expected - self.events_received,
                self.events_expected
            ));
        }
        if self.duplicate_events > 0 {
            problems.push(format!("DUPLICATES: {} events more than one per session", self.duplicate_events));
        }
        if self.calls_answered < self.calls {
            problems.push(format!(
                "{} of {} calls were not answered",
                self.calls - self.calls_answered,
                self.calls
            ));
        }
        if let Some(pid) = self.router_pid {
            if self.rss_after_kib.is_none() || self.rss_closed_kib.is_none() {
                problems.push(format!("the router's RSS (pid {pid}) could not be read at every step"));
            }
        }
        self.ok = self.failure_count == 0 && problems.is_empty();
        self.problems = problems;
    }

    /// The human summary, ending with the verdict.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "switchyard-loadtest sessions: {} {} ({}), realm {}, {} sessions over {} processes, {} source \
             addresses, {} set up at once, {} topics",
            self.transport,
            self.url,
            self.serializer,
            self.realm,
            self.sessions,
            self.processes,
            self.source_addresses,
            self.in_flight,
            self.topics
        );
        let _ = writeln!(
            out,
            "  established {:>8} of {} in {:.3} s = {:.1} sessions/s (HELLO -> WELCOME, SUBSCRIBED, \
             REGISTERED; slowest {:.1} ms)",
            self.established, self.sessions, self.connect_s, self.connect_rate, self.max_setup_ms
        );
        if let Some(pid) = self.router_pid {
            let kib = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
            let per = self.rss_per_session_bytes.map_or_else(|| "?".to_owned(), |v| format!("{v:.0}"));
            let _ = writeln!(
                out,
                "  router {pid} RSS KiB: before {}, all established {} ({per} B per session), closed {} ({} s \
                 after)",
                kib(self.rss_before_kib),
                kib(self.rss_after_kib),
                kib(self.rss_closed_kib),
                self.settle_s
            );
            if let Some(cpu) = &self.router_cpu_connecting {
                let _ = writeln!(
                    out,
                    "  router CPU {:.2} s user + {:.2} s system while connecting = {:.1}% of one core",
                    cpu.user_s, cpu.system_s, cpu.percent_of_one_core
                );
            }
        }
        let _ = writeln!(
            out,
            "  verification: {} of {} sessions got their event ({} duplicates); {} of {} calls answered \
             ({} invocations)",
            self.events_received,
            self.events_expected,
            self.duplicate_events,
            self.calls_answered,
            self.calls,
            self.invocations
        );
        let _ = writeln!(out, "  closed: {} sessions with GOODBYE in {:.3} s", self.goodbyes, self.close_s);
        let cpu = &self.loadtest_cpu_connecting;
        let _ = writeln!(
            out,
            "  loadtest CPU while connecting {:.2} s user + {:.2} s system over {:.2} s = {:.1}% of one core \
             ({} cores); {:.2} s in all",
            cpu.user_s, cpu.system_s, cpu.wall_s, cpu.percent_of_one_core, cpu.cores, self.loadtest_cpu_total_s
        );
        for (kind, n) in &self.failure_kinds {
            let _ = writeln!(out, "  failures: {n} x {kind}");
        }
        if self.ok {
            let _ = writeln!(out, "OK: every session was established, got its event and closed");
        } else {
            let _ = writeln!(out, "!!! FAILED");
            for failure in &self.failures {
                let _ = writeln!(out, "!!! error: {failure}");
            }
            if self.failure_count > self.failures.len() as u64 {
                let _ = writeln!(
                    out,
                    "!!! ... and {} more errors",
                    self.failure_count - self.failures.len() as u64
                );
            }
            for problem in &self.problems {
                let _ = writeln!(out, "!!! {problem}");
            }
        }
        out
    }

    /// The report as one line of JSON.
    pub fn json(&self) -> String {
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!("{{\"error\":\"cannot serialize the report: {e}\"}}"))
    }
}

impl crate::report::Outcome for SessionsReport {
    fn human(&self) -> String {
        SessionsReport::human(self)
    }
    fn json(&self) -> String {
        SessionsReport::json(self)
    }
    fn reasons(&self) -> Option<Vec<String>> {
        crate::report::failure_reasons(self.ok, &self.failures, self.failure_count, &self.problems)
    }
}

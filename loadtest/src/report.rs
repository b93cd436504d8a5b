//! The run's report: the numbers a scenario measured, the problems they show (loss, reordering, missing
//! answers, no traffic at all, unfinished churn cycles, scheduled sends that never went out), a human
//! summary, and the same numbers as one line of JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::cli::{CommonArgs, LatencyMode};
use crate::control::Control;
use crate::cpu::CpuUsage;
use crate::scenarios::Phase;
use crate::stats::LatencySummary;

#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: &'static str,
    pub url: String,
    pub transport: &'static str,
    pub serializer: &'static str,
    pub realm: String,
    /// How long the senders actually ran, in seconds.
    pub duration_s: f64,
    /// How long the run waited after sending for answers and events still in flight, at most.
    pub grace_s: f64,
    pub sender_threads: usize,
    pub connections: usize,
    /// The load generator's own CPU use while sending.
    pub loadtest_cpu: CpuUsage,
    #[serde(flatten)]
    pub results: Results,
    /// Errors that ended the run early (router errors, aborts, closed connections): the first 20.
    pub failures: Vec<String>,
    /// How many errors there were in all.
    pub failure_count: usize,
    /// What the numbers show to be wrong (loss, reordering, nothing delivered, ...).
    pub problems: Vec<String>,
    pub ok: bool,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Results {
    Fanout(FanoutResults),
    Rpc(RpcResults),
    Churn(ChurnResults),
    Latency(LatencyResults),
}

#[derive(Debug, Default, Serialize)]
pub struct FanoutResults {
    pub publishers: u32,
    pub subscribers: u32,
    pub topics: u32,
    pub payload_bytes: usize,
    pub window: u32,
    /// PUBLISH messages sent.
    pub published: u64,
    /// PUBLISH messages not acknowledged by the end of the grace period.
    pub unacknowledged: u64,
    /// Acknowledged publications per second of sending.
    pub published_per_s: f64,
    pub expected_events: u64,
    pub delivered_events: u64,
    /// Events per second, from the start of sending until the last event arrived.
    pub delivered_per_s: f64,
    pub delivery_ratio: f64,
    pub lost_events: u64,
    pub out_of_order_events: u64,
    /// Events received beyond what was published (duplicates).
    pub excess_events: u64,
    pub pairs_with_problems: u64,
    /// The first (publisher, subscriber) pairs with lost, out-of-order or excess events.
    pub pair_problems: Vec<PairProblem>,
    /// End-to-end latency: publisher's send to subscriber's receipt.
    pub latency: LatencySummary,
}

#[derive(Debug, Serialize)]
pub struct PairProblem {
    pub publisher: usize,
    pub subscriber: usize,
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub out_of_order: u64,
    pub excess: u64,
}

#[derive(Debug, Serialize)]
pub struct RpcResults {
    pub callees: u32,
    pub callers: u32,
    pub outstanding: u32,
    pub payload_bytes: usize,
    /// CALL messages sent.
    pub calls: u64,
    /// RESULTs received.
    pub results: u64,
    /// Calls without a RESULT by the end of the grace period.
    pub unanswered: u64,
    /// INVOCATIONs the callees answered.
    pub invocations: u64,
    /// The invocation policy of the callees' shared registration, if they share one.
    pub shared: Option<String>,
    /// INVOCATIONs each callee answered, in the order they registered.
    pub invocations_per_callee: Vec<u64>,
    /// Completed calls per second of sending.
    pub calls_per_s: f64,
    /// Round trip: caller's send to caller's receipt of the RESULT.
    pub latency: LatencySummary,
}

#[derive(Debug, Serialize)]
pub struct LatencyResults {
    pub mode: LatencyMode,
    /// Publishers (callers with mode `rpc`).
    pub senders: u32,
    /// Subscribers (callees with mode `rpc`).
    pub receivers: u32,
    pub payload_bytes: usize,
    /// The requested rate: sends per second, all senders together.
    pub requested_per_s: u64,
    /// Sends due at that rate over the duration.
    pub scheduled: u64,
    /// Sends made: all that were scheduled, unless the run failed or the senders were still behind
    /// schedule a grace period after the duration.
    pub sent: u64,
    /// The rate achieved: sends per second from the first scheduled send to the last send (at least the
    /// duration).
    pub sent_per_s: f64,
    /// Whether `sent_per_s` reached 99% of the requested rate.
    pub rate_kept: bool,
    /// How late the senders were: each send's actual time minus its scheduled time (max: the furthest
    /// behind they fell).
    pub send_lag: LatencySummary,
    /// EVENTs (sends x subscribers) or RESULTs (one per call) due.
    pub expected: u64,
    pub delivered: u64,
    pub lost: u64,
    /// Events or results older than one already received from the same sender.
    pub out_of_order: u64,
    /// Events or results received beyond what was sent (duplicates).
    pub excess: u64,
    /// From each send's scheduled time to the subscriber's receipt of the EVENT (pubsub) or the caller's
    /// receipt of the RESULT (rpc).
    pub latency: LatencySummary,
}

#[derive(Debug, Serialize)]
pub struct ChurnResults {
    /// Independent churn loops, each with its own long-lived caller and callee.
    pub loops: usize,
    pub cycles: u64,
    /// Cycles that ended as they must.
    pub completed_cycles: u64,
    /// Completed cycles in which a caller vanished mid-call and the callee got INTERRUPT.
    pub interrupts: u64,
    /// Completed cycles in which a callee vanished mid-call and the caller got `wamp.error.canceled`.
    pub canceled_errors: u64,
    /// Completed cycles per second.
    pub cycles_per_s: f64,
    pub router_pid: Option<u32>,
    /// The router's VmRSS before the first cycle.
    pub rss_start_kib: Option<u64>,
    /// The router's VmRSS after the warm-up (`warm_cycles` cycles, about 10%).
    pub rss_warm_kib: Option<u64>,
    pub warm_cycles: u64,
    /// The router's VmRSS 1 s after the last cycle.
    pub rss_end_kib: Option<u64>,
    /// `--settle`, if given: when the last RSS reading was taken, in seconds after the last cycle.
    pub settle_s: Option<f64>,
    /// The router's VmRSS `settle_s` after the last cycle.
    pub rss_settled_kib: Option<u64>,
    /// The router's peak RSS so far (VmHWM), read with the last RSS.
    pub rss_hwm_kib: Option<u64>,
    /// (rss_end - rss_warm) per 1000 cycles after the warm-up.
    pub growth_kib_per_1000_cycles: Option<f64>,
    /// (rss_settled - rss_warm) per 1000 cycles after the warm-up.
    pub settled_growth_kib_per_1000_cycles: Option<f64>,
    /// The router's CPU time during the cycles.
    pub router_cpu: Option<RouterCpu>,
}

#[derive(Debug, Serialize)]
pub struct RouterCpu {
    pub user_s: f64,
    pub system_s: f64,
    pub percent_of_one_core: f64,
}

impl Report {
    pub fn new(
        common: &CommonArgs,
        sender_threads: usize,
        connections: usize,
        phase: &Phase,
        results: Results,
        control: &Control,
    ) -> Report {
        let problems = match &results {
            Results::Fanout(r) => fanout_problems(r, common.grace.as_secs_f64()),
            Results::Rpc(r) => rpc_problems(r, common.grace.as_secs_f64()),
            Results::Churn(r) => churn_problems(r),
            Results::Latency(r) => latency_problems(r, common.grace.as_secs_f64()),
        };
        let (failures, failure_count) = control.failures();
        Report {
            scenario: match results {
                Results::Fanout(_) => "fanout",
                Results::Rpc(_) => "rpc",
                Results::Churn(_) => "churn",
                Results::Latency(_) => "latency",
            },
            url: common.url.url.clone(),
            transport: common.url.transport_name(),
            serializer: common.serializer.name(),
            realm: common.realm.clone(),
            duration_s: (phase.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            grace_s: common.grace.as_secs_f64(),
            sender_threads,
            connections,
            loadtest_cpu: phase.cpu.clone(),
            ok: failures.is_empty() && problems.is_empty(),
            results,
            failures,
            failure_count,
            problems,
        }
    }

    /// The human summary, ending with the verdict.
    pub fn human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "switchyard-loadtest {}: {} {} ({}), realm {}, {} connections, {} sender threads, sent for {:.2} s",
            self.scenario,
            self.transport,
            self.url,
            self.serializer,
            self.realm,
            self.connections,
            self.sender_threads,
            self.duration_s
        );
        match &self.results {
            Results::Fanout(r) => {
                let _ = writeln!(
                    out,
                    "  {} publishers -> {} subscribers on {} topics, {} B payload, window {}",
                    r.publishers, r.subscribers, r.topics, r.payload_bytes, r.window
                );
                let _ = writeln!(
                    out,
                    "  published   {:>12}  {:>12.1}/s  ({} unacknowledged)",
                    r.published, r.published_per_s, r.unacknowledged
                );
                let _ = writeln!(
                    out,
                    "  delivered   {:>12}  {:>12.1}/s  of {} expected (ratio {:.6})",
                    r.delivered_events, r.delivered_per_s, r.expected_events, r.delivery_ratio
                );
                let _ = writeln!(
                    out,
                    "  lost {}, out of order {}, duplicates {} ({} publisher/subscriber pairs affected)",
                    r.lost_events, r.out_of_order_events, r.excess_events, r.pairs_with_problems
                );
                for pair in &r.pair_problems {
                    let _ = writeln!(
                        out,
                        "    publisher {} -> subscriber {}: expected {}, received {}, lost {}, out of order {}, \
                         excess {}",
                        pair.publisher,
                        pair.subscriber,
                        pair.expected,
                        pair.received,
                        pair.lost,
                        pair.out_of_order,
                        pair.excess
                    );
                }
                write_latency(&mut out, "end-to-end latency", &r.latency);
            }
            Results::Rpc(r) => {
                let _ = writeln!(
                    out,
                    "  {} callers x {} outstanding -> {} callees, {} B payload",
                    r.callers, r.outstanding, r.callees, r.payload_bytes
                );
                let _ = writeln!(
                    out,
                    "  calls       {:>12}  {:>12.1}/s  ({} results, {} unanswered, {} invocations)",
                    r.calls, r.calls_per_s, r.results, r.unanswered, r.invocations
                );
                if let Some(policy) = &r.shared {
                    let _ = writeln!(
                        out,
                        "  shared      {policy}: invocations per callee {:?}",
                        r.invocations_per_callee
                    );
                }
                write_latency(&mut out, "round-trip latency", &r.latency);
            }
            Results::Churn(r) => write_churn(&mut out, r),
            Results::Latency(r) => write_open_loop(&mut out, r),
        }
        let cpu = &self.loadtest_cpu;
        let _ = writeln!(
            out,
            "  loadtest CPU {:.2} s user + {:.2} s system over {:.2} s = {:.1}% of one core ({} cores)",
            cpu.user_s, cpu.system_s, cpu.wall_s, cpu.percent_of_one_core, cpu.cores
        );
        if self.ok {
            let verdict = match self.results {
                Results::Churn(_) => "every cycle ended with INTERRUPT or wamp.error.canceled",
                _ => "no failures, no loss, no reordering",
            };
            let _ = writeln!(out, "OK: {verdict}");
        } else {
            let _ = writeln!(out, "!!! FAILED");
            for failure in &self.failures {
                let _ = writeln!(out, "!!! error: {failure}");
            }
            if self.failure_count > self.failures.len() {
                let _ = writeln!(out, "!!! ... and {} more errors", self.failure_count - self.failures.len());
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

fn write_latency(out: &mut String, what: &str, l: &LatencySummary) {
    let _ = writeln!(
        out,
        "  {what} µs: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}  mean {:.1}  ({} samples)",
        l.p50_us, l.p90_us, l.p99_us, l.p999_us, l.max_us, l.mean_us, l.samples
    );
}

fn write_open_loop(out: &mut String, r: &LatencyResults) {
    let (senders, receivers) = match r.mode {
        LatencyMode::Pubsub => ("publishers", "subscribers"),
        LatencyMode::Rpc => ("callers", "callees"),
    };
    let _ = writeln!(
        out,
        "  {} {senders} -> {} {receivers}, {} B payload, open loop at {}/s",
        r.senders, r.receivers, r.payload_bytes, r.requested_per_s
    );
    let _ = writeln!(
        out,
        "  sent        {:>12}  {:>12.1}/s  of {} scheduled: rate {}",
        r.sent,
        r.sent_per_s,
        r.scheduled,
        if r.rate_kept { "kept" } else { "NOT kept" }
    );
    let _ = writeln!(
        out,
        "  delivered   {:>12}  of {} expected; lost {}, out of order {}, duplicates {}",
        r.delivered, r.expected, r.lost, r.out_of_order, r.excess
    );
    write_latency(out, "send lag (behind schedule)", &r.send_lag);
    write_latency(out, "latency from the scheduled send", &r.latency);
}

fn write_churn(out: &mut String, r: &ChurnResults) {
    let _ = writeln!(
        out,
        "  cycles      {:>12}  {:>12.1}/s  of {} in {} loops ({} callers dropped -> INTERRUPT, {} callees \
         dropped -> wamp.error.canceled)",
        r.completed_cycles, r.cycles_per_s, r.cycles, r.loops, r.interrupts, r.canceled_errors
    );
    let Some(pid) = r.router_pid else {
        return;
    };
    let kib = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
    let _ = write!(
        out,
        "  router {pid} RSS KiB: start {}, warm {} (after {} cycles), end {} (1 s after)",
        kib(r.rss_start_kib),
        kib(r.rss_warm_kib),
        r.warm_cycles,
        kib(r.rss_end_kib)
    );
    if let Some(settle) = r.settle_s {
        let _ = write!(out, ", settled {} ({settle} s after)", kib(r.rss_settled_kib));
    }
    let _ = writeln!(out, "; peak (VmHWM) {}", kib(r.rss_hwm_kib));
    let growth = |v: Option<f64>| v.map_or_else(|| "?".to_owned(), |v| format!("{v:+.2}"));
    let _ = write!(
        out,
        "  RSS growth after warm-up, KiB per 1000 cycles: {} at the end",
        growth(r.growth_kib_per_1000_cycles)
    );
    if r.settle_s.is_some() {
        let _ = write!(out, ", {} settled", growth(r.settled_growth_kib_per_1000_cycles));
    }
    let _ = writeln!(out);
    if let Some(cpu) = &r.router_cpu {
        let _ = writeln!(
            out,
            "  router CPU {:.2} s user + {:.2} s system during the cycles = {:.1}% of one core",
            cpu.user_s, cpu.system_s, cpu.percent_of_one_core
        );
    }
}

fn fanout_problems(r: &FanoutResults, grace_s: f64) -> Vec<String> {
    let mut problems = Vec::new();
    if r.published == 0 {
        problems.push("nothing was published".to_owned());
    } else if r.delivered_events == 0 {
        problems.push("the router delivered no events at all".to_owned());
    }
    if r.lost_events > 0 {
        problems.push(format!(
            "LOSS: {} of {} expected events had not arrived {} s after sending stopped ({} pairs affected)",
            r.lost_events, r.expected_events, grace_s, r.pairs_with_problems
        ));
    }
    if r.out_of_order_events > 0 {
        problems.push(format!("REORDERING: {} events arrived out of order", r.out_of_order_events));
    }
    if r.excess_events > 0 {
        problems.push(format!("DUPLICATES: {} events more than were published", r.excess_events));
    }
    if r.unacknowledged > 0 {
        problems.push(format!(
            "{} publications were not acknowledged {grace_s} s after sending stopped",
            r.unacknowledged
        ));
    }
    problems
}

fn rpc_problems(r: &RpcResults, grace_s: f64) -> Vec<String> {
    let mut problems = Vec::new();
    if r.calls == 0 {
        problems.push("no call was made".to_owned());
    } else if r.results == 0 {
        problems.push("the router delivered no results at all".to_owned());
    }
    if r.unanswered > 0 {
        problems.push(format!(
            "LOSS: {} of {} calls were not answered {grace_s} s after sending stopped",
            r.unanswered, r.calls
        ));
    }
    if let (Some(policy), Some(least)) = (&r.shared, r.invocations_per_callee.iter().min()) {
        // Load balancing must reach every callee; hot stand-by must keep to one.
        let balanced = matches!(policy.as_str(), "roundrobin" | "random");
        let busy = r.invocations_per_callee.iter().filter(|n| **n > 0).count();
        if balanced && *least == 0 && r.invocations >= 100 * r.invocations_per_callee.len() as u64 {
            problems.push(format!(
                "SPREAD: {policy} left a callee without calls: {:?}",
                r.invocations_per_callee
            ));
        }
        if !balanced && busy > 1 {
            problems.push(format!("SPREAD: {policy} invoked {busy} callees: {:?}", r.invocations_per_callee));
        }
    }
    if r.invocations > r.calls {
        problems
            .push(format!("DUPLICATES: the callees saw {} invocations for {} calls", r.invocations, r.calls));
    }
    problems
}

fn latency_problems(r: &LatencyResults, grace_s: f64) -> Vec<String> {
    let mut problems = Vec::new();
    if r.sent == 0 {
        problems.push("nothing was sent".to_owned());
    } else if r.delivered == 0 {
        problems.push("the router delivered nothing at all".to_owned());
    }
    if r.sent < r.scheduled {
        problems.push(format!(
            "RATE NOT KEPT: only {} of {} scheduled sends went out by {grace_s} s past the duration",
            r.sent, r.scheduled
        ));
    }
    if r.lost > 0 {
        problems.push(format!(
            "LOSS: {} of {} expected had not arrived {grace_s} s after sending stopped",
            r.lost, r.expected
        ));
    }
    // WAMP orders events per publisher, but not the results of different calls.
    if r.out_of_order > 0 && r.mode == LatencyMode::Pubsub {
        problems.push(format!("REORDERING: {} events arrived out of order", r.out_of_order));
    }
    if r.excess > 0 {
        problems.push(format!("DUPLICATES: {} more received than were sent", r.excess));
    }
    problems
}

fn churn_problems(r: &ChurnResults) -> Vec<String> {
    let mut problems = Vec::new();
    if r.completed_cycles < r.cycles {
        problems.push(format!("only {} of {} cycles completed", r.completed_cycles, r.cycles));
    }
    if let Some(pid) = r.router_pid {
        let last = if r.settle_s.is_some() { r.rss_settled_kib } else { r.rss_end_kib };
        if last.is_none() {
            problems.push(format!("the router (pid {pid}) was gone after the cycles"));
        }
    }
    problems
}

/// What `main` needs of a scenario's report to print it and pick the exit status.
pub trait Outcome {
    /// The human summary.
    fn human(&self) -> String;
    /// The one JSON line.
    fn json(&self) -> String;
    /// The first failure (and how many more), then the problems; empty when the run was clean.
    fn reasons(&self) -> Option<Vec<String>>;
}

/// Why a run failed, for its one-line error: the first failure, how many more, then the problems.
pub fn failure_reasons(
    ok: bool,
    failures: &[String],
    failure_count: u64,
    problems: &[String],
) -> Option<Vec<String>> {
    if ok {
        return None;
    }
    let mut reasons: Vec<String> = failures.iter().take(1).cloned().collect();
    if failure_count > 1 {
        reasons.push(format!("{} more errors", failure_count - 1));
    }
    reasons.extend(problems.iter().cloned());
    Some(reasons)
}

impl Outcome for Report {
    fn human(&self) -> String {
        Report::human(self)
    }
    fn json(&self) -> String {
        Report::json(self)
    }
    fn reasons(&self) -> Option<Vec<String>> {
        failure_reasons(self.ok, &self.failures, self.failure_count as u64, &self.problems)
    }
}

/// Prints a run's report and says how it went: 0 clean, 1 failures or problems, 2 could not run.
pub fn conclude(result: Result<impl Outcome, String>) -> std::process::ExitCode {
    use std::process::ExitCode;
    match result {
        Err(e) => {
            eprintln!("switchyard-loadtest: {e}");
            ExitCode::from(2)
        }
        Ok(report) => {
            print!("{}", report.human());
            println!("{}", report.json());
            match report.reasons() {
                None => ExitCode::SUCCESS,
                Some(reasons) => {
                    eprintln!("switchyard-loadtest: run FAILED: {}", reasons.join("; "));
                    ExitCode::FAILURE
                }
            }
        }
    }
}

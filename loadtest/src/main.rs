//! `switchyard-loadtest`: a WAMP v2 load generator. Parses the command line, runs the chosen scenario,
//! prints a human summary followed by one line of JSON, and exits 0 when the run was clean, 1 when it ran
//! but found failures or problems (loss, reordering, nothing delivered, a churn cycle that did not end as it
//! must, scheduled sends that never went out), and 2 when it could not set up (the router refused, aborted
//! or is unreachable, or its /proc entry cannot be read).

mod cli;
mod client;
mod control;
mod cpu;
mod multiplex;
mod report;
mod scenarios;
mod sender;
mod stats;
mod transport;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Scenario};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let report = match &cli.scenario {
        Scenario::Fanout(args) => scenarios::fanout::run(args),
        Scenario::Rpc(args) => scenarios::rpc::run(args),
        Scenario::Churn(args) => scenarios::churn::run(args),
        Scenario::Sessions(args) => return scenarios::sessions::main(args),
        Scenario::Latency(args) => scenarios::latency::run(args),
    };
    match report {
        Err(e) => {
            eprintln!("switchyard-loadtest: {e}");
            ExitCode::from(2)
        }
        Ok(report) => {
            print!("{}", report.human());
            println!("{}", report.json());
            if report.ok {
                ExitCode::SUCCESS
            } else {
                let mut reasons: Vec<String> = report.failures.iter().take(1).cloned().collect();
                if report.failure_count > 1 {
                    reasons.push(format!("{} more errors", report.failure_count - 1));
                }
                reasons.extend(report.problems.iter().cloned());
                eprintln!("switchyard-loadtest: run FAILED: {}", reasons.join("; "));
                ExitCode::FAILURE
            }
        }
    }
}

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
    match &cli.scenario {
        Scenario::Fanout(args) => report::conclude(scenarios::fanout::run(args)),
        Scenario::Rpc(args) => report::conclude(scenarios::rpc::run(args)),
        Scenario::Churn(args) => report::conclude(scenarios::churn::run(args)),
        Scenario::Latency(args) => report::conclude(scenarios::latency::run(args)),
        Scenario::Sessions(args) => scenarios::sessions::main(args),
    }
}

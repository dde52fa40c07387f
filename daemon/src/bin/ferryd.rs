//! `ferryd`: the replication daemon (thin binary over the `ferry_daemon` library).
//!
//! Not built yet: the daemon loop, its TOML config, change detection and control API arrive
//! with the daemon issue. Until then it only answers `--help` and `--version`, and says so.

use std::process::ExitCode;

use clap::Parser;

/// ferryd: continuously mirrors milvus-backup folders between object stores.
#[derive(Debug, Parser)]
#[command(name = "ferryd", version)]
struct Args {
    /// Daemon config file (TOML).
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let _ = args.config;
    eprintln!(
        "ferryd: <ERROR> the replication daemon is not implemented yet; use `ferry cp -r` meanwhile"
    );
    ExitCode::from(2)
}

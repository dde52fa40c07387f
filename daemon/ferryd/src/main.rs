//! `ferryd`: the replication daemon (thin binary over the `ferry_engine` library).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use ferry_engine::config::Config;
use ferry_engine::jobs::{self, Daemon, Job, Shared};
use ferry_engine::sync::transfer::TransferConfig;
use ferry_state::Manifest;
use tokio_util::sync::CancellationToken;

/// After the grace period, how long transfers get to abort their uploads.
const ABORT_WAIT: Duration = Duration::from_secs(10);

/// The config used without --config: mirror ./source/ to ./target/ (relative to the current
/// folder), manifest in ./ferry-state, control API on 127.0.0.1:7870.
const DEFAULT_CONFIG: &str = include_str!("../../../configs/ferryd.default.toml");

/// ferryd: continuously mirrors milvus-backup folders between object stores.
#[derive(Debug, Parser)]
#[command(name = "ferryd", version)]
struct Args {
    /// Daemon config file (TOML; see configs/ferryd.toml). Without it: the embedded default,
    /// which mirrors ./source/ to ./target/.
    #[arg(long, short = 'c', value_name = "FILE", env = "FERRYD_CONFIG")]
    config: Option<PathBuf>,
    /// Check the config and exit (0 when valid).
    #[arg(long)]
    check_config: bool,
    /// With --check-config: also reach every job's source and target (endpoint, credentials,
    /// bucket), check a backup job's source is a backup root, and its restore trigger.
    #[arg(long, requires = "check_config")]
    connect: bool,
    /// Print the embedded default config and exit.
    #[arg(long)]
    print_default_config: bool,
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    /// Log level or filter (e.g. `info`, `debug`, `ferry_engine=debug`); RUST_LOG also works.
    #[arg(long, default_value = "info", value_name = "FILTER")]
    log_level: String,
    /// Seconds to let transfers in flight finish after SIGTERM/SIGINT before leaving; the
    /// uploads cut short are aborted at the next start.
    #[arg(long, default_value_t = 20, value_name = "SECONDS")]
    shutdown_grace: u64,
    /// Internal: supervise one `exec` restore trigger described by SPEC (ferryd starts this
    /// itself, in its own process group, so the outcome survives a ferryd restart).
    #[arg(long, value_name = "SPEC", hide = true)]
    run_trigger: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

fn init_logging(format: LogFormat, level: &str) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(f) if !f.is_empty() => EnvFilter::try_new(f).context("RUST_LOG")?,
        _ => EnvFilter::try_new(level).with_context(|| format!("--log-level {level:?}"))?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let r = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    r.map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
}

fn load_config(args: &Args) -> anyhow::Result<Config> {
    Ok(match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::parse(Path::new("./<embedded default config>"), DEFAULT_CONFIG)?,
    })
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
    if args.print_default_config {
        print!("{DEFAULT_CONFIG}");
        return ExitCode::SUCCESS;
    }
    if let Some(spec) = &args.run_trigger {
        let code = ferry_engine::milvus::restore::supervise(spec);
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            let line = ferry_engine::backend::error::display_chain(e.as_ref());
            eprintln!("ferryd: <ERROR> {line}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = load_config(&args)?;
    if args.check_config {
        let jobs = format!(
            "{} job{}",
            config.jobs.len(),
            if config.jobs.len() == 1 { "" } else { "s" }
        );
        if args.connect {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            let problems = rt.block_on(ferry_engine::config::connect::check_connections(&config));
            if !problems.is_empty() {
                for p in &problems {
                    eprintln!("ferryd: <ERROR> {}: {p}", config.path.display());
                }
                return Ok(ExitCode::FAILURE);
            }
            println!(
                "{}: valid, every source, target and restore trigger reachable ({jobs})",
                config.path.display()
            );
        } else {
            println!("{}: valid ({jobs})", config.path.display());
        }
        return Ok(ExitCode::SUCCESS);
    }
    init_logging(args.log_format, &args.log_level)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let after = rt.block_on(serve(
        config,
        args.config.as_deref(),
        Duration::from_secs(args.shutdown_grace),
    ))?;
    // Every task, the manifest and the listening socket are gone with the runtime.
    drop(rt);
    if after == After::Reload {
        // The same process (same pid, for systemd) starts again on the new config: the start
        // path, with its recovery of what was in flight, is the one reload.
        use std::os::unix::process::CommandExt;
        let exe = std::env::current_exe().context("cannot find ferryd's own executable")?;
        let err = std::process::Command::new(&exe)
            .args(std::env::args_os().skip(1))
            .exec();
        return Err(anyhow::Error::new(err).context(format!("cannot restart {}", exe.display())));
    }
    Ok(ExitCode::SUCCESS)
}

/// What to do once the daemon has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    Exit,
    Reload,
}

async fn serve(config: Config, path: Option<&Path>, grace: Duration) -> anyhow::Result<After> {
    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("cannot create state_dir {}", config.state_dir.display()))?;
    let manifest = Arc::new(Manifest::open(&config.state_dir)?);
    let listener = tokio::net::TcpListener::bind(config.control.listen)
        .await
        .with_context(|| format!("control.listen {}: cannot listen", config.control.listen))?;
    // Two stages: `shutdown` stops new work; `stop` (after the grace period) makes transfers
    // in flight abort their multipart uploads.
    let shutdown = CancellationToken::new();
    let stop = CancellationToken::new();
    let shared = Arc::new(Shared {
        manifest: manifest.clone(),
        permits: Arc::new(tokio::sync::Semaphore::new(config.max_transfers)),
        shutdown: shutdown.clone(),
        transfer: TransferConfig {
            stop: Some(stop.clone()),
            ..TransferConfig::default()
        },
        state_dir: config.state_dir.clone(),
        exe: std::env::current_exe().context("cannot find ferryd's own executable")?,
    });
    let jobs: Vec<Arc<Job>> = config
        .jobs
        .iter()
        .cloned()
        .map(|j| Arc::new(Job::new(j)))
        .collect();
    let daemon = Arc::new(Daemon {
        config: config.clone(),
        shared: shared.clone(),
        jobs: jobs.clone(),
        started: Instant::now(),
    });

    let mut tasks = tokio::task::JoinSet::new();
    for job in &jobs {
        tasks.spawn(jobs::run(job.clone(), shared.clone()));
        if job.config.watch {
            tasks.spawn(keep_watching(job.clone(), shutdown.clone()));
        }
    }
    let app = ferry_engine::control::server::router(daemon.clone());
    let server_stop = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { server_stop.cancelled().await })
            .await
    });
    tracing::info!(
        listen = %config.control.listen,
        jobs = jobs.len(),
        state_dir = %config.state_dir.display(),
        "ferryd started"
    );

    let after = wait_for_signal(path).await;
    tracing::info!(
        grace_seconds = grace.as_secs(),
        "shutting down: no new work; letting transfers in flight finish"
    );
    shutdown.cancel();
    let finished =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if finished.is_err() {
        tracing::warn!("transfers still running after the grace period: aborting their uploads");
        stop.cancel();
        let aborted = tokio::time::timeout(ABORT_WAIT, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if aborted.is_err() {
            tracing::warn!(
                "some transfers did not stop in time; their uploads are aborted at the next start"
            );
            tasks.abort_all();
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    manifest.flush()?;
    if after == After::Reload {
        tracing::info!("ferryd stopped; starting again with the new config");
    } else {
        tracing::info!("ferryd stopped");
    }
    Ok(after)
}

/// Watches a job's local source; (re)starts the watch when the folder appears or the watcher
/// dies, and asks for a full scan each time so that nothing that happened meanwhile is missed.
async fn keep_watching(job: Arc<Job>, shutdown: CancellationToken) {
    let ferry_engine::location::Location::Local { path, .. } = &job.config.source else {
        return;
    };
    let mut warned = false;
    loop {
        match ferry_engine::watch::start(path, job.clone()) {
            Ok(w) => {
                job.set_watching(true);
                job.request_full(false);
                tracing::info!(job = %job.name(), path = %path.display(), "watching");
                shutdown.cancelled().await;
                drop(w);
                job.set_watching(false);
                return;
            }
            Err(e) => {
                job.set_watching(false);
                if !warned {
                    tracing::warn!(job = %job.name(), path = %path.display(), error = %e, "cannot watch the source yet; polling meanwhile, retrying");
                    warned = true;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Waits for SIGTERM or SIGINT (exit), or SIGHUP with a valid config file (reload).
/// A SIGHUP whose config is invalid is logged and changes nothing: ferryd keeps running on the
/// config it has.
async fn wait_for_signal(path: Option<&Path>) -> After {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return After::Exit;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return After::Exit,
            _ = int.recv() => return After::Exit,
            _ = hup.recv() => {
                let Some(path) = path else {
                    tracing::warn!("SIGHUP: nothing to reload (running on the embedded default config; give --config)");
                    continue;
                };
                match Config::load(path) {
                    Ok(_) => {
                        tracing::info!(config = %path.display(), "SIGHUP: the config is valid; reloading");
                        return After::Reload;
                    }
                    Err(e) => {
                        let why = ferry_engine::backend::error::display_chain(&e);
                        tracing::error!(config = %path.display(), error = %why, "SIGHUP: config not reloaded; still running on the one loaded before");
                    }
                }
            }
        }
    }
}

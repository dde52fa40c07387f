//! `ferry`: the thin binary. Parses arguments, calls the library, prints, maps to an exit code.

mod args;
mod cmd_alias;
mod cmd_backups;
mod cmd_cp;
mod cmd_daemon;
mod cmd_find;
mod cmd_job;
mod cmd_ls;
mod cmd_mirror;
mod cmd_obj;
mod output;

use std::process::ExitCode;

use clap::Parser;
use ferry_engine::alias::ConfigDir;
use ferry_engine::location::{self, Location, Stores};

use args::{Cli, Command};

/// What a command reports when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything succeeded.
    Ok,
    /// Some objects failed (already reported).
    Failed,
}

/// Shared state of one invocation.
#[derive(Debug)]
pub struct Ctx {
    pub config: ConfigDir,
    pub json: bool,
    pub quiet: bool,
    pub stores: Stores,
}

impl Ctx {
    /// Parses a target argument.
    pub fn location(&self, arg: &str) -> anyhow::Result<Location> {
        Ok(location::parse(arg, &self.config)?)
    }

    /// Refuses a local target that does not exist and is one typo away from an alias
    /// (`sitB` for `siteB`): it would be created as a new local folder.
    pub fn refuse_mistyped_alias(&self, arg: &str) -> anyhow::Result<()> {
        let Ok(file) = self.config.load() else {
            return Ok(());
        };
        if let Some(alias) = location::mistyped_alias(arg, file.aliases.keys().map(String::as_str))
        {
            anyhow::bail!(
                "{arg}: no such folder or alias; did you mean the alias {alias:?}? (to create a local folder by that name write ./{arg})"
            );
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(cli.global.debug);
    let json = cli.global.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::print_error(
                &anyhow::Error::new(e).context("cannot start the async runtime"),
                json,
            );
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(Status::Ok) => ExitCode::SUCCESS,
        Ok(Status::Failed) => ExitCode::FAILURE,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            output::print_error(&e, json);
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_logging(debug: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if debug { "debug" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

async fn run(cli: Cli) -> anyhow::Result<Status> {
    let config = ConfigDir::new(
        cli.global
            .config_dir
            .clone()
            .unwrap_or_else(ConfigDir::default_location),
    );
    let mut ctx = Ctx {
        config,
        json: cli.global.json,
        quiet: cli.global.quiet,
        stores: Stores::new(),
    };
    match cli.command {
        Command::Alias(cmd) => cmd_alias::run(&ctx, cmd).await,
        Command::Ls(a) => cmd_ls::run(&mut ctx, a).await,
        Command::Cp(a) => cmd_cp::run(&mut ctx, a).await,
        Command::Mirror(a) => cmd_mirror::run(&mut ctx, a).await,
        Command::Diff(a) => cmd_mirror::diff(&mut ctx, a).await,
        Command::Verify(a) => cmd_mirror::verify(&mut ctx, a).await,
        Command::Backups(c) => cmd_backups::run(&mut ctx, c).await,
        Command::Stat(a) => cmd_obj::stat(&mut ctx, a).await,
        Command::Cat(a) => cmd_obj::cat(&mut ctx, a).await,
        Command::Rm(a) => cmd_obj::rm(&mut ctx, a).await,
        Command::Mb(a) => cmd_obj::mb(&mut ctx, a).await,
        Command::Rb(a) => cmd_obj::rb(&mut ctx, a).await,
        Command::Job(c) => cmd_job::run(&ctx, c).await,
        Command::Status(a) => cmd_daemon::status(&ctx, a).await,
        Command::Sync(a) => cmd_daemon::control(&ctx, "sync", a).await,
        Command::Pause(a) => cmd_daemon::control(&ctx, "pause", a).await,
        Command::Resume(a) => cmd_daemon::control(&ctx, "resume", a).await,
        Command::Restore(a) => cmd_daemon::restore(&ctx, a).await,
        Command::Du(a) => cmd_find::du(&mut ctx, a).await,
        Command::Find(a) => cmd_find::find(&mut ctx, a).await,
        Command::Version => {
            let version = env!("CARGO_PKG_VERSION");
            if ctx.json {
                output::json(&serde_json::json!({"status": "success", "version": version}))?;
            } else {
                output::line(&format!("ferry {version}"))?;
            }
            Ok(Status::Ok)
        }
        Command::Completion { shell } => {
            use clap::CommandFactory;
            let mut out = std::io::stdout().lock();
            clap_complete::generate(shell, &mut args::Cli::command(), "ferry", &mut out);
            Ok(Status::Ok)
        }
    }
}

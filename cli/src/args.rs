//! Command-line arguments. Each flag is documented once, here; `--help` shows it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// ferry: copy and mirror object stores (S3-compatible servers and local folders), mc-style.
///
/// Targets are ALIAS/BUCKET[/PREFIX] (see `ferry alias`) or local paths.
#[derive(Debug, Parser)]
#[command(
    name = "ferry",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// Folder holding config.json (aliases).
    #[arg(long, global = true, env = "FERRY_CONFIG_DIR", value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
    /// Print one JSON object per line instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only errors (no progress, no per-object lines).
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// Log at debug level to stderr (RUST_LOG overrides).
    #[arg(long, global = true)]
    pub debug: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage aliases: named S3 endpoints with credentials.
    #[command(subcommand)]
    Alias(AliasCmd),
    /// List buckets, objects and folders.
    Ls(LsArgs),
    /// Copy objects and folders between any two targets.
    Cp(CpArgs),
    /// Mirror a folder or prefix incrementally (only what changed since the last run).
    Mirror(MirrorArgs),
    /// List differences between two folders or prefixes (mc's `<`, `>`, `!`).
    Diff(DiffArgs),
    /// Read both sides and compare SHA-256 of every object.
    Verify(VerifyArgs),
    /// milvus-backup backups in any bucket or folder: `ls` (state, size, segments, rows),
    /// `verify` (a backup's objects by SHA-256 on both sides, and its meta's expectations).
    #[command(subcommand)]
    Backups(BackupsCmd),
    /// Show an object's, folder's or bucket's metadata.
    Stat(StatArgs),
    /// Write objects to standard output.
    Cat(CatArgs),
    /// Remove objects (folders with --recursive --force).
    Rm(RmArgs),
    /// Make a bucket (or a local folder).
    Mb(MbArgs),
    /// Remove a bucket (its objects too with --force).
    Rb(RbArgs),
    /// Add ferryd jobs to its config file, from folders, aliases or milvus-backup's backup.yaml.
    #[command(subcommand)]
    Job(JobCmd),
    /// Show ferryd's jobs: state, last run, lag, failures.
    Status(StatusArgs),
    /// Ask ferryd to run a job's full scan now.
    Sync(JobArgs),
    /// Stop a ferryd job from starting runs.
    Pause(JobArgs),
    /// Let a paused ferryd job run again.
    Resume(JobArgs),
    /// Restore a backup through a ferryd job's restore trigger (once it is verified at the
    /// target); `restore status` lists restores, `restore retry ID` retries a failed one.
    Restore(RestoreArgs),
    /// Summarize space used under a prefix or folder, by folder down to --depth (mc's `du`).
    Du(DuArgs),
    /// Find objects by name, path, size and age under a prefix or folder (mc's `find`).
    Find(FindArgs),
    /// Print ferry's version.
    Version,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell), generated from
    /// the same definitions as --help: `ferry completion bash > /etc/bash_completion.d/ferry`.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct RestoreArgs {
    #[command(subcommand)]
    pub cmd: Option<RestoreCmd>,
    /// The ferryd job whose target holds the backup (see `ferry status`).
    #[arg(required = true)]
    pub job: Option<String>,
    /// The backup's name (its folder under the job's backup root).
    #[arg(required = true)]
    pub backup: Option<String>,
    /// Collection suffix, like `milvus-backup restore -s` (default: the job's).
    #[arg(long, short = 's', value_name = "SUFFIX")]
    pub suffix: Option<String>,
    /// Rename a collection, like `milvus-backup restore -r` (repeatable): db1.c1:db2.c1_new.
    #[arg(long, short = 'r', value_name = "OLD:NEW")]
    pub rename: Vec<String>,
    /// Queue the restore if the backup is not verified at the target yet: it fires as soon as
    /// it is (without this flag such a request is refused).
    #[arg(long)]
    pub when_synced: bool,
    /// Restore a backup that was restored already (the same backup id) once more.
    #[arg(long)]
    pub again: bool,
    /// Wait until the restore ends; exit 0 when it restored, 1 when it failed.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub daemon: DaemonArgs,
}

#[derive(Debug, Subcommand)]
pub enum RestoreCmd {
    /// List restores, every request of every backup (requested, running, done, failed with
    /// why, skipped); exits 1 when a backup's latest restore failed.
    Status(RestoreStatusArgs),
    /// Queue a failed restore again (a new request with a new task id; the failed one stays in
    /// the history).
    Retry(RestoreRetryArgs),
    /// Print the end of a restore's log (an exec trigger's output).
    Log(RestoreRetryArgs),
}

#[derive(Debug, clap::Args)]
pub struct RestoreStatusArgs {
    #[command(flatten)]
    pub daemon: DaemonArgs,
}

#[derive(Debug, clap::Args)]
pub struct RestoreRetryArgs {
    /// The restore's id (see `ferry restore status`).
    pub id: String,
    #[command(flatten)]
    pub daemon: DaemonArgs,
}

/// How to reach ferryd.
#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// ferryd's control API address.
    #[arg(
        long,
        env = "FERRY_DAEMON",
        value_name = "URL",
        default_value = "http://127.0.0.1:7870"
    )]
    pub daemon: String,
    /// File holding ferryd's API token (see control.token_file in its config).
    #[arg(long, env = "FERRY_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Take the address and token from ferryd's config file instead.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["daemon", "token_file"])]
    pub daemon_config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Only this job (with its recent failures).
    pub job: Option<String>,
    #[command(flatten)]
    pub daemon: DaemonArgs,
}

#[derive(Debug, clap::Args)]
pub struct JobArgs {
    /// The job's name (see `ferry status`).
    pub job: String,
    /// With `sync`: also list the target and repair drift.
    #[arg(long)]
    pub check_target: bool,
    /// With `sync`: wait until that run ends; exit 0 when it left the job in sync, 1 when it
    /// failed or objects failed.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub daemon: DaemonArgs,
}

#[derive(Debug, Subcommand)]
pub enum AliasCmd {
    /// Add or replace an alias.
    Set(AliasSetArgs),
    /// List aliases (secrets are masked).
    Ls {
        /// Only this alias.
        name: Option<String>,
    },
    /// Remove an alias.
    Rm {
        /// Alias to remove.
        name: String,
    },
    /// Import an alias from `alias export` output (mc's too), from an mc/ferry config.json, or
    /// from milvus-backup's backup.yaml (its backup storage, or --side milvus).
    Import {
        /// Name to store it under (and to pick from a config.json).
        name: String,
        /// File to read, or `-` for standard input.
        #[arg(default_value = "-")]
        file: String,
        /// From a backup.yaml: which of its storages (default: backup, where it writes backups).
        #[arg(long, value_enum)]
        side: Option<YamlSide>,
        /// From a backup.yaml: save without checking that the endpoint answers and accepts the
        /// credentials.
        #[arg(long)]
        no_check: bool,
    },
    /// Export an alias with its credentials as JSON (to a file or a pipe, never a terminal).
    Export {
        /// Alias to export.
        name: String,
        /// File to write (created 0600), or `-` for standard output.
        #[arg(default_value = "-")]
        file: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum YamlSide {
    /// `minio.backup*` (v1) or `backup.storage` (v2): where milvus-backup writes backups.
    Backup,
    /// `minio.*` (v1) or `milvus.storage` (v2): the Milvus deployment's own bucket.
    Milvus,
}

#[derive(Debug, Subcommand)]
pub enum JobCmd {
    /// Add a job to ferryd's config file (created when missing). SOURCE and TARGET are folders,
    /// ALIAS/BUCKET/PREFIX, or milvus-backup's backup.yaml of each site: its backup storage
    /// becomes an alias and the job mirrors its backup root. With --restore, each backup
    /// verified at the target is restored by `milvus-backup --config TARGET.yaml restore`.
    /// The job is checked (each end reached, the restore program found) before anything is
    /// written; reload ferryd afterwards (`systemctl reload ferryd`, or SIGHUP).
    Add(JobAddArgs),
}

#[derive(Debug, Args)]
pub struct JobAddArgs {
    /// Job name (letters, digits, '-', '_', '.').
    pub name: String,
    /// What to mirror: a folder, ALIAS/BUCKET/PREFIX, or a milvus-backup backup.yaml.
    pub source: String,
    /// Where to: a folder, ALIAS/BUCKET/PREFIX, or a milvus-backup backup.yaml.
    pub target: String,
    /// ferryd's config file to add the job to.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Name of the alias made from a source backup.yaml (default: JOB-source).
    #[arg(long, value_name = "ALIAS")]
    pub source_alias: Option<String>,
    /// Name of the alias made from a target backup.yaml (default: JOB-target).
    #[arg(long, value_name = "ALIAS")]
    pub target_alias: Option<String>,
    /// Restore each backup verified at the target with `milvus-backup --config TARGET restore`
    /// (TARGET must be the target site's backup.yaml).
    #[arg(long, conflicts_with = "restore_url")]
    pub restore: bool,
    /// Restore through milvus-backup's REST server at this URL instead (`milvus-backup server`).
    #[arg(long, value_name = "URL")]
    pub restore_url: Option<String>,
    /// The milvus-backup program --restore runs.
    #[arg(long, value_name = "PROGRAM", default_value = "milvus-backup")]
    pub milvus_backup: String,
    /// Which backups restore automatically (globs, repeatable; default all).
    #[arg(long = "restore-backup", value_name = "GLOB")]
    pub restore_backups: Vec<String>,
    /// Collection suffix of restores (milvus-backup -s).
    #[arg(long, short = 's', value_name = "SUFFIX")]
    pub suffix: Option<String>,
    /// Polling period of an S3 source (ferryd's `interval`).
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// Mirror everything, object by object, instead of milvus-backup backups (layout = "plain").
    #[arg(long)]
    pub plain: bool,
    /// Print what would be added and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write without reaching the source, the target and the restore program first.
    #[arg(long)]
    pub no_check: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PathStyle {
    /// Path-style, except for AWS, Alibaba OSS and Tencent COS hosts.
    Auto,
    /// Always path-style (`host/bucket/key`).
    On,
    /// Always virtual-host style (`bucket.host/key`).
    Off,
}

#[derive(Debug, Args)]
pub struct AliasSetArgs {
    /// Alias name (letters, digits, '-', '_').
    pub name: String,
    /// Endpoint URL, e.g. https://s3.us-east-1.amazonaws.com or http://127.0.0.1:9000.
    pub url: String,
    /// Access key (omit both keys to use the AWS default credential chain).
    pub access_key: Option<String>,
    /// Secret key, or `-` to read it from standard input (keeps it out of shell history).
    pub secret_key: Option<String>,
    /// Signature version (only S3v4 is spoken).
    #[arg(long, default_value = "S3v4")]
    pub api: String,
    /// Bucket addressing style.
    #[arg(long, value_enum, default_value = "auto")]
    pub path: PathStyle,
    /// Signing region (default: from the host, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// PEM file of an extra CA certificate to trust for this endpoint.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Use ListObjects v1 (older Ceph or Tencent COS).
    #[arg(long)]
    pub list_v1: bool,
    /// Save without checking that the endpoint answers and accepts the credentials.
    #[arg(long)]
    pub no_check: bool,
}

#[derive(Debug, Args)]
pub struct DuArgs {
    /// Folder or prefix (ALIAS/BUCKET[/PREFIX] or a local path).
    pub target: String,
    /// Folder levels shown below the target (0: its total only).
    #[arg(long, short = 'd', default_value_t = 0)]
    pub depth: u32,
}

#[derive(Debug, Args)]
pub struct FindArgs {
    /// Folder or prefix to search (ALIAS/BUCKET[/PREFIX] or a local path).
    pub target: String,
    /// Object name (last path part) matching this glob, e.g. '*.json'.
    #[arg(long, value_name = "GLOB")]
    pub name: Option<String>,
    /// Key below the target matching this glob, e.g. '*/meta/*'.
    #[arg(long, value_name = "GLOB")]
    pub path: Option<String>,
    /// Larger than this size (`10MiB`, `1GB`, bytes).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub larger: Option<u64>,
    /// Smaller than this size.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub smaller: Option<u64>,
    /// Modified longer ago than this (`7d`, `12h`).
    #[arg(long, value_name = "AGE", value_parser = parse_duration)]
    pub older_than: Option<std::time::Duration>,
    /// Modified more recently than this.
    #[arg(long, value_name = "AGE", value_parser = parse_duration)]
    pub newer_than: Option<std::time::Duration>,
    /// At most this many folder levels below the target (1: only its direct objects).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub maxdepth: Option<u32>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// What to list (ALIAS, ALIAS/BUCKET[/PREFIX] or a local path).
    pub target: String,
    /// List everything below, not just one level.
    #[arg(long, short)]
    pub recursive: bool,
    /// Print totals at the end.
    #[arg(long)]
    pub summarize: bool,
    /// List unfinished uploads instead (open multipart uploads; a local folder's temporary
    /// files of writes that never finished), as `mc ls --incomplete`.
    #[arg(long, short = 'I')]
    pub incomplete: bool,
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Sources, then the target.
    #[arg(required = true, num_args = 2.., value_name = "SOURCE... TARGET")]
    pub paths: Vec<String>,
    /// Copy folders and prefixes with everything below them.
    #[arg(long, short)]
    pub recursive: bool,
    /// Show what would be copied; copy nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub transfer: TransferArgs,
}

/// How objects are moved (cp and mirror).
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// Objects copied at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub max_workers: u16,
    /// Multipart part size in MiB [default: 6]. Objects above it are uploaded in parallel
    /// parts; without the flag, objects up to 16 MiB still go in one request.
    #[arg(long, value_parser = clap::value_parser!(u64).range(5..=5120), value_name = "MIB")]
    pub part_size: Option<u64>,
    /// Parts of one object in memory at once, being read or uploaded (rclone's
    /// --s3-upload-concurrency): with --part-size, what one large copy holds.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=256), value_name = "N")]
    pub part_concurrency: u16,
    /// Memory for buffered parts, shared by all workers, in MiB.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(16..=65536), value_name = "MIB")]
    pub memory: u64,
    /// Cap on the bytes per second read from the source, shared by all workers (`50MiB`,
    /// `800KiB/s`, `1.5GB`), like ferryd's `bandwidth` (rclone's --bwlimit).
    #[arg(long, visible_alias = "bwlimit", value_name = "RATE", value_parser = parse_rate)]
    pub bandwidth: Option<u64>,
    /// S3 source, Azure target: Azure reads each object itself through a presigned URL (Put
    /// Blob From URL), and the bytes never pass through ferry. The source must be reachable
    /// from Azure; where the service cannot do it, ferry streams.
    #[arg(long)]
    pub from_url: bool,
    /// Compute each object's whole MD5 on the way and store it with the object where the target
    /// keeps one (an Azure blob's Content-MD5, which Azure does not compute for block uploads;
    /// single-request writes carry it anyway), as mc's --md5. Costs a second hash over every
    /// byte.
    #[arg(long)]
    pub md5: bool,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    ferry_engine::config::parse_duration(s).map_err(|e| e.to_string())
}

fn parse_size(s: &str) -> Result<u64, String> {
    ferry_engine::config::parse_size(s).map_err(|e| e.to_string())
}

fn parse_rate(s: &str) -> Result<u64, String> {
    ferry_engine::config::parse_rate(s).map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// Source folder or prefix.
    pub source: String,
    /// Target folder or prefix.
    pub target: String,
    /// Delete target objects whose source object is gone.
    #[arg(long)]
    pub remove: bool,
    /// Show what would be copied and deleted; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Skip relative keys matching this glob (repeatable), e.g. 'tmp/**' or '*.log'.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// With --remove: refuse to delete more than N objects, or more than P% of the target.
    #[arg(long, value_name = "N|P%")]
    pub max_delete: Option<String>,
    /// Delete even above --max-delete or when the source lists no objects.
    #[arg(long)]
    pub force: bool,
    /// Replace target objects that ferry did not write and whose content differs from the source.
    #[arg(long)]
    pub overwrite: bool,
    /// List the target too and repair drift (objects deleted or changed behind ferry's back).
    #[arg(long)]
    pub check_target: bool,
    /// Read every unchanged object on both sides and compare SHA-256: the source as it is now
    /// (an in-place rewrite that kept size and mtime is found) with the target as stored;
    /// copy again what differs.
    #[arg(long)]
    pub verify: bool,
    /// The source is a milvus-backup backup root (e.g. ALIAS/bucket/backup): each backup is
    /// written data first, verified, then its meta, meta/backup_meta.json last; incomplete
    /// backups are not announced at the target. A backup the target announces is hidden
    /// before anything under it changes, and is changed only once the source's version is
    /// whole (otherwise it is kept and the command exits 1).
    #[arg(long)]
    pub backups: bool,
    /// Keep running: mirror again what changes at the source (a local source is watched, any
    /// source is also scanned every --interval), until Ctrl-C. As `mc mirror --watch`.
    #[arg(long, short = 'w')]
    pub watch: bool,
    /// With --watch: time between scans.
    #[arg(long, default_value = "30s", value_parser = parse_duration, requires = "watch")]
    pub interval: std::time::Duration,
    /// With --backups: only these backups (a name or a glob, repeatable), e.g. `nightly_*`.
    #[arg(long = "backup", value_name = "NAME|GLOB", requires = "backups")]
    pub only: Vec<String>,
    /// With --backups: only the newest N backups (by the time milvus-backup took them), after
    /// --backup.
    #[arg(long, value_name = "N", requires = "backups", value_parser = clap::value_parser!(u32).range(1..))]
    pub newest: Option<u32>,
    #[command(flatten)]
    pub transfer: TransferArgs,
    /// Folder of the manifest (default: <config dir>/state).
    #[arg(long, env = "FERRY_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// First (source) folder or prefix.
    pub source: String,
    /// Second (target) folder or prefix.
    pub target: String,
    /// Manifest folder: content known from earlier mirrors is compared too.
    #[arg(long, env = "FERRY_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Sources read at once (a source changed since its copy, same size, is hashed).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub max_workers: u16,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Source folder or prefix.
    pub source: String,
    /// Target folder or prefix.
    pub target: String,
    /// Objects hashed at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub max_workers: u16,
}

#[derive(Debug, Subcommand)]
pub enum BackupsCmd {
    /// List the backups under a backup root (like `milvus-backup list`, for any bucket, with
    /// the incomplete ones and what they miss).
    Ls(BackupsLsArgs),
    /// Compare one backup at two backup roots: every object by SHA-256, and the target
    /// against its meta (every binlog with its size, meta/backup_meta.json present).
    Verify(BackupsVerifyArgs),
    /// Remove backups from a backup root, `meta/backup_meta.json` first (so that no reader
    /// takes a half-removed backup for a whole one), then the rest of its meta, then its data.
    Rm(BackupsRmArgs),
}

#[derive(Debug, Args)]
pub struct BackupsRmArgs {
    /// The backup root: ALIAS/BUCKET/backup/ or a local folder.
    pub root: String,
    /// Backup names or globs.
    #[arg(required = true, value_name = "NAME|GLOB")]
    pub names: Vec<String>,
    /// Needed to remove (as `rm -r`).
    #[arg(long)]
    pub force: bool,
    /// Show what would be removed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct BackupsLsArgs {
    /// The backup root: ALIAS/BUCKET/backup/ or a local folder.
    pub target: String,
}

#[derive(Debug, Args)]
pub struct BackupsVerifyArgs {
    /// The source backup root.
    pub source: String,
    /// The target backup root.
    pub target: String,
    /// The backup's name.
    pub name: String,
    /// Objects hashed at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub max_workers: u16,
}

#[derive(Debug, Args)]
pub struct StatArgs {
    /// Object, folder or bucket.
    pub target: String,
}

#[derive(Debug, Args)]
pub struct CatArgs {
    /// Objects or files to print.
    #[arg(required = true)]
    pub targets: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Objects to remove (prefixes with --recursive --force).
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// Remove everything under the given prefixes (needs --force).
    #[arg(long, short)]
    pub recursive: bool,
    /// Confirm a recursive removal.
    #[arg(long)]
    pub force: bool,
    /// Show what would be removed; remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Remove unfinished uploads instead (of the key; with --recursive --force, everything
    /// under the prefix), as `mc rm --incomplete`.
    #[arg(long, short = 'I')]
    pub incomplete: bool,
}

#[derive(Debug, Args)]
pub struct MbArgs {
    /// ALIAS/BUCKET (or a local path).
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// Succeed if the bucket already exists.
    #[arg(long, short = 'p')]
    pub ignore_existing: bool,
}

#[derive(Debug, Args)]
pub struct RbArgs {
    /// ALIAS/BUCKET.
    #[arg(required = true)]
    pub targets: Vec<String>,
    /// Remove the bucket's objects first.
    #[arg(long)]
    pub force: bool,
}

impl TransferArgs {
    /// Objects at once.
    pub fn workers(&self) -> usize {
        usize::from(self.max_workers)
    }

    /// `store` with reads capped at `--bandwidth`, when given.
    pub fn throttled(
        &self,
        store: std::sync::Arc<dyn ferry_engine::backend::ObjectStore>,
    ) -> std::sync::Arc<dyn ferry_engine::backend::ObjectStore> {
        match self.bandwidth {
            Some(rate) => std::sync::Arc::new(
                ferry_engine::backend::throttle::ThrottledStore::new(store, rate),
            ),
            None => store,
        }
    }

    /// The engine's transfer settings.
    pub fn config(&self) -> ferry_engine::sync::transfer::TransferConfig {
        const MIB: u64 = 1024 * 1024;
        let defaults = ferry_engine::backend::UploadConfig::default();
        ferry_engine::sync::transfer::TransferConfig {
            upload: ferry_engine::backend::UploadConfig {
                // --part-size also says from which size objects go in parts.
                multipart_threshold: self
                    .part_size
                    .map_or(defaults.multipart_threshold, |p| p * MIB),
                part_size: self.part_size.map_or(defaults.part_size, |p| p * MIB),
                part_concurrency: usize::from(self.part_concurrency),
                budget: ferry_engine::backend::MemoryBudget::new(self.memory * MIB),
            },
            content_md5: self.md5,
            ..Default::default()
        }
    }
}

//! `ferryd`'s config file (TOML): where the manifest lives, the control API, aliases and jobs.
//!
//! Parsing is strict: an unknown key, a wrong type or a bad value is an error that names the
//! file, the line and the key. Everything a job needs is checked here (aliases resolve, sources
//! and targets do not overlap, globs compile, durations parse), so `ferryd --check-config` can
//! say "valid" and mean it. No network request is made.
//!
//! The commented reference is `configs/ferryd.toml`.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::alias::{AliasEntry, ConfigDir};
use crate::location::{self, Location};
use crate::sync::filter::{MaxDelete, glob_set};

/// A config error, pointing at the file and (when known) the line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Syntax, type, unknown key or bad value.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// The control API's settings.
#[derive(Clone)]
pub struct ControlConfig {
    /// Where it listens (`127.0.0.1:7870` unless set).
    pub listen: SocketAddr,
    /// Bearer token required on every request except `/metrics` when set (mandatory when
    /// listening on a non-loopback address).
    pub token: Option<String>,
}

impl std::fmt::Debug for ControlConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// One replication job.
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// Unique name (letters, digits, `-`, `_`).
    pub name: String,
    /// Where objects come from.
    pub source: Location,
    /// Where they go.
    pub target: Location,
    /// Relative keys that are mirrored (matching any); default: the milvus-backup layout.
    pub include: Vec<String>,
    /// Relative keys that are skipped.
    pub exclude: Vec<String>,
    /// Delete target objects whose source is gone.
    pub remove: bool,
    /// Cap on deletions per run.
    pub max_delete: Option<MaxDelete>,
    /// Time between polling scans (every source; the only change feed for S3 without webhooks).
    pub interval: Duration,
    /// Watch a local source for changes (inotify).
    pub watch: bool,
    /// Time between full reconciles that also list the target (`None`: never).
    pub reconcile: Option<Duration>,
    /// Objects copied at once by this job.
    pub workers: usize,
    /// Bytes per second this job may read from its source (`None`: unlimited).
    pub bandwidth: Option<u64>,
    /// `layout = "milvus-backup"` (the default): the source is a backup root; each backup
    /// reaches the target whole, verified, `meta/backup_meta.json` last. `"plain"`: objects
    /// are mirrored one by one in any order.
    pub backups: bool,
    /// `[jobs.restore]`: restore verified backups at the target.
    pub restore: Option<crate::milvus::restore::RestoreConfig>,
}

/// The whole config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// Folder of the manifest.
    pub state_dir: PathBuf,
    /// Control API.
    pub control: ControlConfig,
    /// Objects copied at once by all jobs together.
    pub max_transfers: usize,
    /// The jobs.
    pub jobs: Vec<JobConfig>,
}

/// Default include globs: the milvus-backup layout below a backup root (`<name>/meta/...`,
/// `<name>/binlogs/...`, `<name>/bundle/...`).
pub const BACKUP_LAYOUT: &[&str] = &["*/meta/**", "*/binlogs/**", "*/bundle/**"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    state_dir: Option<Spanned<String>>,
    alias_dir: Option<Spanned<String>>,
    #[serde(default)]
    control: RawControl,
    max_transfers: Option<Spanned<i64>>,
    #[serde(default)]
    aliases: BTreeMap<String, Spanned<RawAlias>>,
    #[serde(default)]
    jobs: Vec<Spanned<RawJob>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawControl {
    listen: Option<Spanned<String>>,
    token: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlias {
    url: String,
    #[serde(default)]
    access_key: String,
    #[serde(default)]
    secret_key: String,
    session_token: Option<String>,
    path: Option<String>,
    region: Option<String>,
    ca_cert: Option<String>,
    list_v1: Option<bool>,
    checksums: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: Spanned<String>,
    source: Spanned<String>,
    target: Spanned<String>,
    include: Option<Spanned<Vec<String>>>,
    exclude: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    remove: bool,
    max_delete: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    watch: Option<Spanned<bool>>,
    reconcile: Option<Spanned<String>>,
    workers: Option<Spanned<i64>>,
    bandwidth: Option<Spanned<String>>,
    layout: Option<Spanned<String>>,
    restore: Option<Spanned<RawRestore>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestore {
    kind: Spanned<String>,
    command: Option<Spanned<Vec<String>>>,
    url: Option<Spanned<String>>,
    backups: Option<Spanned<Vec<String>>>,
    suffix: Option<Spanned<String>>,
    renames: Option<Spanned<Vec<String>>>,
    timeout: Option<Spanned<String>>,
    poll: Option<Spanned<String>>,
    bucket: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
}

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|b| *b == b'\n')
            .count()
            + 1
    }

    fn err<T>(
        &self,
        span: Option<std::ops::Range<usize>>,
        message: String,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::Invalid {
            path: self.path.to_owned(),
            line: span.filter(|s| s.end > 0).map(|s| self.line(s.start)),
            message,
        })
    }

    /// The dotted key (`jobs.interval`) written on the line at `offset`, for messages.
    fn key_at(&self, offset: usize) -> Option<String> {
        let before = &self.text[..offset.min(self.text.len())];
        let start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = self.text[start..].lines().next()?;
        let key = line.split_once('=')?.0.trim();
        if key.is_empty() || key.starts_with('[') || key.starts_with('#') {
            return None;
        }
        let table = before[..start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
        Some(match table {
            Some(t) => format!("{t}.{key}"),
            None => key.to_owned(),
        })
    }

    /// Resolves a path relative to the config file's folder, made absolute and without `.`
    /// parts (so messages and the manifest name one place one way).
    fn path_of(&self, p: &str) -> PathBuf {
        let p = expand_home(p);
        let joined = if p.is_absolute() {
            p
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(p)
        };
        let abs = std::path::absolute(&joined).unwrap_or(joined);
        abs.components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect()
    }
}

fn expand_home(p: &str) -> PathBuf {
    match p.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(rest.trim_start_matches('/')),
        _ => PathBuf::from(p),
    }
}

/// Parses a duration such as `30s`, `5m`, `1h 30m`, `500ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("{e} (e.g. \"30s\", \"5m\", \"1h\")"))
}

/// Parses a byte rate such as `50MiB`, `1.5GB`, `800KiB/s`, `1000000`.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t.strip_suffix("/s").unwrap_or(t).trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a rate (e.g. \"50MiB/s\", \"1GB/s\")"))?;
    let mult: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        u => {
            return Err(format!(
                "unknown unit {u:?} in {s:?} (B, KB, MB, GB, KiB, MiB, GiB)"
            ));
        }
    };
    let v = n * mult;
    if !(v >= 1024.0 && v.is_finite()) {
        return Err(format!("{s:?}: at least 1KiB/s"));
    }
    Ok(v as u64)
}

fn valid_job_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// Whether anyone but the owner may read the file.
#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}
#[cfg(not(unix))]
fn readable_by_others(_: &Path) -> bool {
    false
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Checks a config given as text (`path` is used for messages and relative paths).
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let cx = Ctx { path, text };
        let raw: Raw = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                let key = e.span().and_then(|s| cx.key_at(s.start));
                let message = e.message().trim();
                return cx.err(
                    e.span(),
                    match key {
                        Some(k) => format!("{k}: {message}"),
                        None => message.to_owned(),
                    },
                );
            }
        };

        let state_dir = match &raw.state_dir {
            Some(s) if s.get_ref().trim().is_empty() => {
                return cx.err(Some(s.span()), "state_dir: empty path".into());
            }
            Some(s) => cx.path_of(s.get_ref()),
            None => ConfigDir::default_location().join("ferryd-state"),
        };
        let alias_dir = ConfigDir::new(match &raw.alias_dir {
            Some(s) => cx.path_of(s.get_ref()),
            None => ConfigDir::default_location(),
        });

        // Control API.
        let listen = match &raw.control.listen {
            None => SocketAddr::from(([127, 0, 0, 1], 7870)),
            Some(l) => match l.get_ref().parse::<SocketAddr>() {
                Ok(a) => a,
                Err(_) => {
                    return cx.err(
                        Some(l.span()),
                        format!(
                            "control.listen: {:?} is not an address:port (e.g. \"127.0.0.1:7870\")",
                            l.get_ref()
                        ),
                    );
                }
            },
        };
        let token = match (&raw.control.token, &raw.control.token_file) {
            (Some(t), Some(_)) => {
                return cx.err(
                    Some(t.span()),
                    "control: set token or token_file, not both".into(),
                );
            }
            (Some(t), None) => {
                if readable_by_others(path) {
                    return cx.err(
                        Some(t.span()),
                        format!(
                            "control.token: {} holds a token but others may read it (chmod 600, or use token_file)",
                            path.display()
                        ),
                    );
                }
                Some(t.get_ref().clone())
            }
            (None, Some(f)) => {
                let file = cx.path_of(f.get_ref());
                let tok = match std::fs::read_to_string(&file) {
                    Ok(t) => t.trim().to_owned(),
                    Err(e) => {
                        return cx.err(
                            Some(f.span()),
                            format!("control.token_file: cannot read {}: {e}", file.display()),
                        );
                    }
                };
                if readable_by_others(&file) {
                    return cx.err(
                        Some(f.span()),
                        format!(
                            "control.token_file: others may read {} (chmod 600)",
                            file.display()
                        ),
                    );
                }
                Some(tok)
            }
            (None, None) => None,
        };
        if let Some(t) = &token
            && t.len() < 16
        {
            let span = raw
                .control
                .token
                .as_ref()
                .or(raw.control.token_file.as_ref())
                .map(|s| s.span());
            return cx.err(
                span,
                "control: the token must have at least 16 characters".into(),
            );
        }
        if !listen.ip().is_loopback() && token.is_none() {
            return cx.err(
                raw.control.listen.as_ref().map(|l| l.span()),
                format!(
                    "control.listen: {listen} is not a loopback address: set control.token_file (the API would be open to the network)"
                ),
            );
        }

        let max_transfers = match &raw.max_transfers {
            None => 64,
            Some(n) if (1..=4096).contains(n.get_ref()) => *n.get_ref() as usize,
            Some(n) => {
                return cx.err(
                    Some(n.span()),
                    format!("max_transfers: {} is not in 1..=4096", n.get_ref()),
                );
            }
        };

        // Inline aliases; they win over the alias file and the environment.
        let mut aliases: BTreeMap<String, AliasEntry> = BTreeMap::new();
        let mut alias_secrets = false;
        for (name, a) in &raw.aliases {
            if let Err(e) = crate::alias::validate_name(name) {
                return cx.err(Some(a.span()), format!("aliases.{name}: {e}"));
            }
            let r = a.get_ref();
            let mut entry = AliasEntry::new(&r.url, &r.access_key, &r.secret_key);
            entry.session_token = r.session_token.clone();
            if let Some(p) = &r.path {
                entry.path = p.clone();
            }
            entry.region = r.region.clone();
            entry.ca_cert = r.ca_cert.clone();
            entry.list_v1 = r.list_v1;
            entry.checksums = r.checksums.clone();
            if let Err(e) = entry.validate(name) {
                return cx.err(Some(a.span()), format!("aliases.{name}: {e}"));
            }
            alias_secrets |= !r.secret_key.is_empty() || r.session_token.is_some();
            aliases.insert(name.clone(), entry);
        }
        if alias_secrets && readable_by_others(path) {
            return cx.err(
                None,
                format!(
                    "{} holds alias secrets but others may read it (chmod 600)",
                    path.display()
                ),
            );
        }
        let resolve = |name: &str| -> Result<Option<AliasEntry>, crate::alias::AliasError> {
            if let Some(e) = aliases.get(name) {
                return Ok(Some(e.clone()));
            }
            alias_dir.resolve(name)
        };

        if raw.jobs.is_empty() {
            return cx.err(
                None,
                "no [[jobs]]: ferryd has nothing to do (see configs/ferryd.toml)".into(),
            );
        }
        let mut names = HashSet::new();
        let mut jobs = Vec::new();
        for j in &raw.jobs {
            let job = cx.job(j.get_ref(), &resolve)?;
            if !names.insert(job.name.clone()) {
                return cx.err(
                    Some(j.get_ref().name.span()),
                    format!("jobs.name: {:?} is used by two jobs", job.name),
                );
            }
            jobs.push(job);
        }
        Ok(Config {
            path: path.to_owned(),
            state_dir,
            control: ControlConfig { listen, token },
            max_transfers,
            jobs,
        })
    }
}

type Resolve<'a> = dyn Fn(&str) -> Result<Option<AliasEntry>, crate::alias::AliasError> + 'a;

impl Ctx<'_> {
    fn location(
        &self,
        job: &str,
        key: &str,
        value: &Spanned<String>,
        resolve: &Resolve<'_>,
    ) -> Result<Location, ConfigError> {
        let v = value.get_ref().trim();
        let span = Some(value.span());
        if v.is_empty() {
            return self.err(span, format!("jobs.{key} of job {job:?}: empty"));
        }
        let loc = match location::parse_with(v, resolve) {
            Ok(l) => l,
            Err(e) => return self.err(span, format!("jobs.{key} of job {job:?}: {e}")),
        };
        match loc {
            Location::Local { path, .. } => {
                let explicit = v.starts_with('/')
                    || v.starts_with("./")
                    || v.starts_with("../")
                    || v.starts_with('~');
                if !explicit {
                    let head = v.split('/').next().unwrap_or(v);
                    return self.err(
                        span,
                        format!(
                            "jobs.{key} of job {job:?}: {head:?} is not an alias (aliases: [aliases.NAME] here, or `ferry alias set`); local folders start with /, ./ or ~/"
                        ),
                    );
                }
                Ok(Location::Local {
                    path: self.path_of(&path.to_string_lossy()),
                    trailing_slash: true,
                })
            }
            Location::Remote { bucket: None, .. } => self.err(
                span,
                format!("jobs.{key} of job {job:?}: name a bucket (ALIAS/BUCKET[/PREFIX])"),
            ),
            Location::Remote {
                alias,
                entry,
                bucket,
                key: k,
                ..
            } => Ok(Location::Remote {
                alias,
                entry,
                bucket,
                key: if k.is_empty() || k.ends_with('/') {
                    k
                } else {
                    format!("{k}/")
                },
                trailing_slash: true,
            }),
        }
    }

    fn duration(&self, job: &str, key: &str, v: &Spanned<String>) -> Result<Duration, ConfigError> {
        parse_duration(v.get_ref())
            .or_else(|e| self.err(Some(v.span()), format!("jobs.{key} of job {job:?}: {e}")))
    }

    fn globs(&self, job: &str, key: &str, v: &Spanned<Vec<String>>) -> Result<(), ConfigError> {
        for g in v.get_ref() {
            if let Err(e) = globset::Glob::new(g) {
                return self.err(Some(v.span()), format!("jobs.{key} of job {job:?}: {e}"));
            }
        }
        Ok(())
    }

    fn restore(
        &self,
        job: &str,
        r: &RawRestore,
        span: std::ops::Range<usize>,
        backups: bool,
        target: &Location,
    ) -> Result<crate::milvus::restore::RestoreConfig, ConfigError> {
        use crate::milvus::restore::{PLACEHOLDERS, RestoreConfig, Trigger};
        let at = |v: &dyn Fn() -> std::ops::Range<usize>| Some(v());
        if !backups {
            return self.err(
                Some(span),
                format!("jobs.restore of job {job:?}: restores need layout = \"milvus-backup\""),
            );
        }
        let trigger = match r.kind.get_ref().as_str() {
            "exec" => {
                let Some(cmd) = r.command.as_ref().filter(|c| !c.get_ref().is_empty()) else {
                    return self.err(
                        Some(r.kind.span()),
                        format!("jobs.restore.command of job {job:?}: kind = \"exec\" needs command = [\"program\", \"arg\", ...]"),
                    );
                };
                for arg in cmd.get_ref() {
                    let mut rest = arg.as_str();
                    while let Some(open) = rest.find('{') {
                        let after = &rest[open + 1..];
                        let Some(close) = after.find('}') else { break };
                        let name = &after[..close];
                        if !PLACEHOLDERS.contains(&name) {
                            return self.err(
                                at(&|| cmd.span()),
                                format!(
                                    "jobs.restore.command of job {job:?}: unknown placeholder {{{name}}} (known: {})",
                                    PLACEHOLDERS.iter().map(|p| format!("{{{p}}}")).collect::<Vec<_>>().join(" ")
                                ),
                            );
                        }
                        rest = &after[close + 1..];
                    }
                }
                if r.url.is_some() {
                    return self.err(
                        r.url.as_ref().map(|u| u.span()),
                        format!("jobs.restore.url of job {job:?}: only for kind = \"milvus-backup-rest\""),
                    );
                }
                Trigger::Exec {
                    argv: cmd.get_ref().clone(),
                }
            }
            "milvus-backup-rest" => {
                let Some(url) = &r.url else {
                    return self.err(
                        Some(r.kind.span()),
                        format!("jobs.restore.url of job {job:?}: kind = \"milvus-backup-rest\" needs url = \"http://HOST:PORT\""),
                    );
                };
                let u = url.get_ref().trim_end_matches('/');
                let ok = u
                    .strip_prefix("http://")
                    .is_some_and(|h| !h.is_empty() && !h.contains('/'));
                if !ok {
                    return self.err(
                        Some(url.span()),
                        format!("jobs.restore.url of job {job:?}: {u:?} is not http://HOST:PORT (the /api/v1 is added)"),
                    );
                }
                if r.command.is_some() {
                    return self.err(
                        r.command.as_ref().map(|c| c.span()),
                        format!("jobs.restore.command of job {job:?}: only for kind = \"exec\""),
                    );
                }
                let poll = match &r.poll {
                    Some(p) => self.duration(job, "restore.poll", p)?,
                    None => Duration::from_secs(5),
                };
                Trigger::Rest {
                    url: u.to_owned(),
                    poll,
                }
            }
            other => {
                return self.err(
                    Some(r.kind.span()),
                    format!("jobs.restore.kind of job {job:?}: {other:?} is not \"exec\" or \"milvus-backup-rest\""),
                );
            }
        };
        let patterns = match &r.backups {
            Some(b) => {
                self.globs(job, "restore.backups", b)?;
                b.get_ref().clone()
            }
            None => vec!["*".to_owned()],
        };
        let filter = if patterns.is_empty() {
            None
        } else {
            Some(glob_set(&patterns).map_err(|e| ConfigError::Invalid {
                path: self.path.to_owned(),
                line: None,
                message: format!("jobs.restore.backups of job {job:?}: {e}"),
            })?)
        };
        let mut renames = Vec::new();
        if let Some(rs) = &r.renames {
            for pair in rs.get_ref() {
                match pair.split_once(':') {
                    Some((a, b)) if !a.is_empty() && !b.is_empty() => {
                        renames.push((a.to_owned(), b.to_owned()));
                    }
                    _ => {
                        return self.err(
                            Some(rs.span()),
                            format!("jobs.restore.renames of job {job:?}: {pair:?} is not OLD:NEW (e.g. \"db1.c1:db2.c1_new\")"),
                        );
                    }
                }
            }
        }
        let timeout = match &r.timeout {
            Some(t) => self.duration(job, "restore.timeout", t)?,
            None => Duration::from_secs(24 * 3600),
        };
        let (mut bucket, mut path) = match target {
            Location::Remote { bucket, key, .. } => (
                bucket.clone().unwrap_or_default(),
                key.trim_end_matches('/').to_owned(),
            ),
            Location::Local { path, .. } => (String::new(), path.display().to_string()),
        };
        if let Some(b) = &r.bucket {
            bucket = b.get_ref().clone();
        }
        if let Some(p) = &r.path {
            path = p.get_ref().trim_end_matches('/').to_owned();
        }
        Ok(RestoreConfig {
            trigger,
            backups: filter,
            backup_patterns: patterns,
            suffix: r.suffix.as_ref().map(|s| s.get_ref().clone()),
            renames,
            timeout,
            bucket,
            path,
        })
    }

    fn job(&self, j: &RawJob, resolve: &Resolve<'_>) -> Result<JobConfig, ConfigError> {
        let name = j.name.get_ref().clone();
        if !valid_job_name(&name) {
            return self.err(
                Some(j.name.span()),
                format!("jobs.name: {name:?}: use 1–64 letters, digits, '-', '_' or '.'"),
            );
        }
        let source = self.location(&name, "source", &j.source, resolve)?;
        let target = self.location(&name, "target", &j.target, resolve)?;
        let (s, t) = (canonical(&source), canonical(&target));
        if s.starts_with(&t) || t.starts_with(&s) {
            return self.err(
                Some(j.target.span()),
                format!(
                    "jobs.target of job {name:?}: {} and {} overlap (the same place, or one inside the other)",
                    j.source.get_ref(),
                    j.target.get_ref()
                ),
            );
        }
        let backups = match &j.layout {
            None => true,
            Some(v) => match v.get_ref().as_str() {
                "milvus-backup" => true,
                "plain" => false,
                other => {
                    return self.err(
                        Some(v.span()),
                        format!(
                            "jobs.layout of job {name:?}: {other:?} is not \"milvus-backup\" or \"plain\""
                        ),
                    );
                }
            },
        };
        // A backup root's default is its layout; a plain job mirrors everything.
        let include = match &j.include {
            Some(v) => {
                self.globs(&name, "include", v)?;
                v.get_ref().clone()
            }
            None if backups => BACKUP_LAYOUT.iter().map(|s| (*s).to_owned()).collect(),
            None => vec!["**".to_owned()],
        };
        if let Some(v) = &j.exclude {
            self.globs(&name, "exclude", v)?;
        }
        let max_delete = match &j.max_delete {
            Some(v) => Some(MaxDelete::parse(v.get_ref()).or_else(|e| {
                self.err(
                    Some(v.span()),
                    format!("jobs.max_delete of job {name:?}: {e}"),
                )
            })?),
            None => None,
        };
        let interval = match &j.interval {
            Some(v) => self.duration(&name, "interval", v)?,
            None => Duration::from_secs(60),
        };
        if interval < Duration::from_secs(1) {
            return self.err(
                j.interval.as_ref().map(|v| v.span()),
                format!("jobs.interval of job {name:?}: at least 1s"),
            );
        }
        let local_source = matches!(source, Location::Local { .. });
        let watch = match &j.watch {
            Some(w) if *w.get_ref() && !local_source => {
                return self.err(
                    Some(w.span()),
                    format!(
                        "jobs.watch of job {name:?}: only local sources can be watched; S3 sources are polled every `interval` and take bucket-event webhooks"
                    ),
                );
            }
            Some(w) => *w.get_ref(),
            None => local_source,
        };
        let reconcile = match &j.reconcile {
            Some(v) if matches!(v.get_ref().trim(), "off" | "never" | "0" | "0s") => None,
            Some(v) => Some(self.duration(&name, "reconcile", v)?),
            None => Some(Duration::from_secs(3600)),
        };
        let workers = match &j.workers {
            None => 8,
            Some(n) if (1..=1024).contains(n.get_ref()) => *n.get_ref() as usize,
            Some(n) => {
                return self.err(
                    Some(n.span()),
                    format!(
                        "jobs.workers of job {name:?}: {} is not in 1..=1024",
                        n.get_ref()
                    ),
                );
            }
        };
        let bandwidth = match &j.bandwidth {
            Some(v) => Some(parse_rate(v.get_ref()).or_else(|e| {
                self.err(
                    Some(v.span()),
                    format!("jobs.bandwidth of job {name:?}: {e}"),
                )
            })?),
            None => None,
        };
        let restore = match &j.restore {
            None => None,
            Some(r) => Some(self.restore(&name, r.get_ref(), r.span(), backups, &target)?),
        };
        Ok(JobConfig {
            restore,
            backups,
            name,
            source,
            target,
            include,
            exclude: j
                .exclude
                .as_ref()
                .map(|v| v.get_ref().clone())
                .unwrap_or_default(),
            remove: j.remove,
            max_delete,
            interval,
            watch,
            reconcile,
            workers,
            bandwidth,
        })
    }
}

/// A comparable name for a location: endpoint + bucket + prefix, or an absolute folder; with a
/// trailing `/` so that prefix tests compare whole segments.
fn canonical(loc: &Location) -> String {
    let mut s = match loc {
        Location::Local { path, .. } => {
            let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            format!("file://{}", abs.display())
        }
        Location::Remote {
            entry, bucket, key, ..
        } => format!(
            "{}/{}/{}",
            entry.url.trim_end_matches('/').to_ascii_lowercase(),
            bucket.as_deref().unwrap_or(""),
            key
        ),
    };
    while s.ends_with("//") {
        s.pop();
    }
    if !s.ends_with('/') {
        s.push('/');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("ferryd.toml");
        std::fs::write(&path, text).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        // Aliases from the test's environment or home must not leak in.
        let text = format!("alias_dir = {:?}\n{text}", dir.path().join("aliases"));
        Config::parse(&path, &text)
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    const ALIAS: &str = "[aliases.s]\nurl = \"http://127.0.0.1:9000\"\naccess_key = \"AKIATEST\"\nsecret_key = \"test-secret\"\n";

    #[test]
    fn the_example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/ferryd.toml");
        let c = Config::load(&path).expect("configs/ferryd.toml");
        assert_eq!(c.jobs.len(), 1);
        let j = &c.jobs[0];
        assert_eq!(j.name, "milvus-to-site-b");
        assert!(j.watch, "local sources are watched by default");
        assert_eq!(j.interval, Duration::from_secs(60));
        assert_eq!(j.include, BACKUP_LAYOUT);
        assert_eq!(c.control.listen, "127.0.0.1:7870".parse().expect("addr"));
    }

    #[test]
    fn a_full_job_parses() {
        let c = parse(&format!(
            "{ALIAS}[[jobs]]\nname = \"a\"\nsource = \"s/bucket/backup\"\ntarget = \"./copy/\"\ninterval = \"5m\"\nreconcile = \"off\"\nworkers = 3\nbandwidth = \"10MiB/s\"\nmax_delete = \"5%\"\nremove = true\ninclude = [\"**\"]\n"
        ))
        .expect("valid");
        let j = &c.jobs[0];
        assert!(!j.watch, "S3 sources are not watched");
        assert_eq!(j.interval, Duration::from_secs(300));
        assert_eq!(j.reconcile, None);
        assert_eq!((j.workers, j.bandwidth), (3, Some(10 * 1024 * 1024)));
        assert_eq!(j.max_delete, Some(MaxDelete::Percent(5.0)));
        match &j.source {
            Location::Remote { bucket, key, .. } => {
                assert_eq!(
                    (bucket.as_deref(), key.as_str()),
                    (Some("bucket"), "backup/")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn restore_triggers_parse_and_bad_ones_are_refused() {
        let job = format!(
            "{ALIAS}[[jobs]]\nname = \"a\"\nsource = \"/src/\"\ntarget = \"s/bkt/backup/\"\n"
        );
        let c = parse(&format!(
            "{job}[jobs.restore]\nkind = \"exec\"\ncommand = [\"milvus-backup\", \"restore\", \"-n\", \"{{backup}}\", \"-s\", \"{{suffix}}\"]\nbackups = [\"nightly_*\"]\nsuffix = \"_bak\"\nrenames = [\"db1.c1:db2.c2\"]\ntimeout = \"2h\"\n"
        ))
        .expect("valid");
        let r = c.jobs[0].restore.as_ref().expect("restore");
        assert_eq!((r.bucket.as_str(), r.path.as_str()), ("bkt", "backup"));
        assert_eq!(r.renames, [("db1.c1".to_owned(), "db2.c2".to_owned())]);
        assert_eq!(r.timeout, Duration::from_secs(7200));
        assert!(
            r.backups
                .as_ref()
                .is_some_and(|b| b.is_match("nightly_3") && !b.is_match("weekly"))
        );
        let c = parse(&format!(
            "{job}[jobs.restore]\nkind = \"milvus-backup-rest\"\nurl = \"http://mb:8080/\"\nbackups = []\n"
        ))
        .expect("valid");
        let r = c.jobs[0].restore.as_ref().expect("restore");
        assert!(r.backups.is_none(), "backups = [] means by hand only");
        assert!(
            matches!(&r.trigger, crate::milvus::restore::Trigger::Rest { url, .. } if url == "http://mb:8080")
        );

        let cases: Vec<(String, &[&str])> = vec![
            (
                format!("{job}[jobs.restore]\nkind = \"shell\"\n"),
                &[":11:", "jobs.restore.kind", "\"shell\""],
            ),
            (
                format!("{job}[jobs.restore]\nkind = \"exec\"\n"),
                &["jobs.restore.command", "needs command"],
            ),
            (
                format!("{job}[jobs.restore]\nkind = \"exec\"\ncommand = []\n"),
                &["jobs.restore.command"],
            ),
            (
                format!("{job}[jobs.restore]\nkind = \"exec\"\ncommand = [\"x\", \"{{name}}\"]\n"),
                &[":12:", "unknown placeholder {name}", "{backup}"],
            ),
            (
                format!("{job}[jobs.restore]\nkind = \"milvus-backup-rest\"\n"),
                &["jobs.restore.url", "needs url"],
            ),
            (
                format!(
                    "{job}[jobs.restore]\nkind = \"milvus-backup-rest\"\nurl = \"https://x/api\"\n"
                ),
                &[":12:", "not http://HOST:PORT"],
            ),
            (
                format!(
                    "{job}[jobs.restore]\nkind = \"exec\"\ncommand = [\"x\"]\nrenames = [\"a\"]\n"
                ),
                &[":13:", "jobs.restore.renames", "OLD:NEW"],
            ),
            (
                format!(
                    "{job}[jobs.restore]\nkind = \"exec\"\ncommand = [\"x\"]\ntimeout = \"soon\"\n"
                ),
                &[":13:", "jobs.restore.timeout"],
            ),
            (
                format!("{job}[jobs.restore]\nkind = \"exec\"\ncommand = [\"x\"]\ncomand = 1\n"),
                &[":13:", "unknown field `comand`"],
            ),
            (
                format!(
                    "{job}layout = \"plain\"\n[jobs.restore]\nkind = \"exec\"\ncommand = [\"x\"]\n"
                ),
                &["restores need layout = \"milvus-backup\""],
            ),
            (
                format!("{job}layout = \"flat\"\n"),
                &[":10:", "jobs.layout", "\"flat\""],
            ),
        ];
        for (text, needles) in cases {
            let e = err(&text);
            for n in needles {
                assert!(e.contains(n), "{n:?} not in {e:?}\n--- config:\n{text}");
            }
        }
    }

    #[test]
    fn errors_name_the_line_and_the_key() {
        let job = "[[jobs]]\nname = \"a\"\nsource = \"/src/\"\ntarget = \"/dst/\"\n";
        let cases: Vec<(String, &[&str])> = vec![
            // a typo in a key, with the line
            (
                format!("{job}intervall = \"5s\"\n"),
                &[":6:", "intervall", "interval"],
            ),
            (
                format!("{job}interval = \"5 parsecs\"\n"),
                &[":6:", "jobs.interval", "\"a\""],
            ),
            (format!("{job}interval = 5\n"), &[":6:", "string"]),
            (
                format!("{job}interval = \"10ms\"\n"),
                &["jobs.interval", "at least 1s"],
            ),
            (format!("{job}workers = 0\n"), &["jobs.workers", "1..=1024"]),
            (format!("{job}bandwidth = \"fast\"\n"), &["jobs.bandwidth"]),
            (
                format!("{job}max_delete = \"lots\"\n"),
                &["jobs.max_delete"],
            ),
            (format!("{job}exclude = [\"a[\"]\n"), &["jobs.exclude"]),
            (
                "[[jobs]]\nname = \"a\"\nsource = \"nosuch/b/backup/\"\ntarget = \"/dst/\"\n"
                    .into(),
                &[":4:", "\"nosuch\" is not an alias"],
            ),
            (
                "[[jobs]]\nname = \"a\"\nsource = \"/data/x/\"\ntarget = \"/data/x\"\n".into(),
                &[":5:", "overlap"],
            ),
            (
                "[[jobs]]\nname = \"a\"\nsource = \"/data/x/\"\ntarget = \"/data/x/copy/\"\n"
                    .into(),
                &["overlap"],
            ),
            (
                format!(
                    "{ALIAS}[[jobs]]\nname = \"a\"\nsource = \"s/bkt/p/\"\ntarget = \"s/bkt/p/q/\"\n"
                ),
                &["overlap"],
            ),
            (format!("{job}{job}"), &[":7:", "used by two jobs"]),
            (
                format!(
                    "{ALIAS}[[jobs]]\nname = \"a\"\nsource = \"s/bkt/p/\"\ntarget = \"/d/\"\nwatch = true\n"
                ),
                &["jobs.watch", "only local sources"],
            ),
            (
                format!("{ALIAS}[[jobs]]\nname = \"a\"\nsource = \"s\"\ntarget = \"/d/\"\n"),
                &["name a bucket"],
            ),
            (
                "[[jobs]]\nname = \"a b\"\nsource = \"/s/\"\ntarget = \"/d/\"\n".into(),
                &["jobs.name"],
            ),
            (
                format!("[control]\nlisten = \"0.0.0.0:7870\"\n{job}"),
                &["control.listen", "token"],
            ),
            (
                format!("[control]\nlisten = \"localhost\"\n{job}"),
                &["control.listen"],
            ),
            (
                format!("[control]\ntoken = \"short\"\n{job}"),
                &["16 characters"],
            ),
            (
                format!("[control]\ntoken_file = \"/nonexistent/t\"\n{job}"),
                &["token_file", "/nonexistent/t"],
            ),
            ("[aliases.x]\nurl = \"ftp://h\"\n".into(), &["aliases.x"]),
            ("state_dir = \"/tmp\"\n".into(), &["no [[jobs]]"]),
            ("jobs = 3\n".into(), &["jobs"]),
            ("[[jobs]\n".into(), &[":2:"]),
        ];
        for (text, needles) in cases {
            let e = err(&text);
            for n in needles {
                assert!(e.contains(n), "{e:?} lacks {n:?} for:\n{text}");
            }
            assert!(e.contains("ferryd.toml"), "{e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn secrets_in_files_others_can_read_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let token = dir.path().join("token");
        std::fs::write(&token, "0123456789abcdef0123\n").expect("write");
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let path = dir.path().join("ferryd.toml");
        let text = "[control]\ntoken_file = \"token\"\n[[jobs]]\nname = \"a\"\nsource = \"/s/\"\ntarget = \"/d/\"\n";
        std::fs::write(&path, text).expect("write");
        let e = Config::parse(&path, text)
            .expect_err("world-readable token")
            .to_string();
        assert!(e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let c = Config::parse(&path, text).expect("private token");
        assert_eq!(c.control.token.as_deref(), Some("0123456789abcdef0123"));
        assert!(
            !format!("{c:?}").contains("0123456789abcdef"),
            "Debug shows the token"
        );

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let inline = format!("{ALIAS}[[jobs]]\nname = \"a\"\nsource = \"/s/\"\ntarget = \"/d/\"\n");
        let e = Config::parse(&path, &inline)
            .expect_err("secret in a readable file")
            .to_string();
        assert!(e.contains("chmod 600") && !e.contains("test-secret"), "{e}");
    }

    #[test]
    fn the_control_api_is_loopback_by_default_and_needs_a_token_elsewhere() {
        let job = "[[jobs]]\nname = \"a\"\nsource = \"/s/\"\ntarget = \"/d/\"\n";
        let c = parse(job).expect("defaults");
        assert_eq!(c.control.listen.to_string(), "127.0.0.1:7870");
        assert_eq!(c.control.token, None);
        for listen in ["0.0.0.0:7870", "[::]:7870", "192.0.2.1:80"] {
            let e = err(&format!("[control]\nlisten = \"{listen}\"\n{job}"));
            assert!(
                e.contains(listen)
                    && e.contains("not a loopback address")
                    && e.contains("token_file"),
                "{e}"
            );
        }
        let c = parse(&format!(
            "[control]\nlisten = \"0.0.0.0:7870\"\ntoken = \"0123456789abcdef-long\"\n{job}"
        ))
        .expect("an open address with a token");
        assert!(c.control.token.is_some());
        let e = err(&format!(
            "[control]\nlisten = \"0.0.0.0:7870\"\ntoken = \"short\"\n{job}"
        ));
        assert!(
            e.contains("at least 16 characters") && !e.contains("short\""),
            "{e}"
        );
    }

    #[test]
    fn rates_and_durations() {
        assert_eq!(parse_rate("1MiB/s"), Ok(1024 * 1024));
        assert_eq!(parse_rate("1.5 GB"), Ok(1_500_000_000));
        assert_eq!(parse_rate("4096"), Ok(4096));
        assert!(parse_rate("12").is_err());
        assert!(parse_rate("1 parsec").is_err());
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("soon").is_err());
    }
}

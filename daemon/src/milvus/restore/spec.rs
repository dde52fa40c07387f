//! What a job's `[jobs.restore]` asks for: the trigger, which backups, the milvus-backup
//! options, and the argv templating of `exec` triggers. Plain data: the config parser builds
//! it, the restorer reads it.

use std::time::Duration;

use sha2::Digest;

/// How a job restores its backups.
#[derive(Debug, Clone)]
pub struct RestoreConfig {
    pub trigger: Trigger,
    /// Backup name globs that trigger automatically (`None`: none do; only `ferry restore`).
    pub backups: Option<globset::GlobSet>,
    /// The same, as written (for status).
    pub backup_patterns: Vec<String>,
    /// Collection suffix (milvus-backup `-s`).
    pub suffix: Option<String>,
    /// Collection renames (milvus-backup `-r db1.c1:db2.c1_new`).
    pub renames: Vec<(String, String)>,
    /// How long one restore may take.
    pub timeout: Duration,
    /// Where the backup root is at the target, for `{bucket}` / `{path}` and the REST request.
    pub bucket: String,
    /// See `bucket`.
    pub path: String,
    /// Row counts compared after each successful restore (`[jobs.restore.verify]`).
    pub verify: Option<VerifyConfig>,
}

/// A secret read from a private file or the environment. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `s`.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for the one request header that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a restored backup's collections are counted.
#[derive(Debug, Clone)]
pub struct VerifyConfig {
    /// The Milvus (or Zilliz Cloud cluster) endpoint of the RESTful API v2,
    /// `http(s)://host:port`.
    pub url: String,
    /// Its bearer token (`user:password` on Milvus, an API key on Zilliz Cloud).
    pub token: Option<Secret>,
    /// How long the counts may stay unreadable (endpoint down) before the check fails.
    pub timeout: Duration,
}

/// A Zilliz Cloud migration job as a restore.
#[derive(Debug, Clone)]
pub struct ZillizTrigger {
    /// The control plane, `https://api.cloud.zilliz.com` by default.
    pub endpoint: String,
    /// The API key (bearer).
    pub api_key: Secret,
    /// The destination cluster, `in01-…`.
    pub cluster_id: String,
    /// Where Zilliz reads the backup from.
    pub mode: ZillizMode,
    /// Time between job polls.
    pub poll: Duration,
}

/// How Zilliz Cloud gets the backup's files.
#[derive(Debug, Clone)]
pub enum ZillizMode {
    /// It reads the job's target itself (S3, GCS, Azure): `startByRemote` with the backup
    /// folder's URL.
    Remote {
        /// The backup root as Zilliz reads it, ending in `/` (`s3://bucket/backup/`); the
        /// backup's folder name is appended.
        url: String,
        /// The access key (an Azure account name) Zilliz uses, when the storage needs one.
        access_key: Option<String>,
        /// Its secret (an Azure account key).
        secret_key: Option<Secret>,
    },
    /// ferry uploads the verified backup folder into a volume Zilliz grants (for storage
    /// Zilliz cannot reach: an on-premises MinIO or Ceph, a local folder), then starts the job
    /// from the volume.
    Volume,
}

/// What runs a restore.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// A program.
    Exec {
        /// argv template.
        argv: Vec<String>,
    },
    /// milvus-backup's REST server.
    Rest {
        /// `http://host:port` (the `/api/v1` is added).
        url: String,
        /// Time between polls.
        poll: Duration,
    },
    /// A Zilliz Cloud migration job.
    Zilliz(ZillizTrigger),
}

impl Trigger {
    /// Its kind, for status.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Exec { .. } => "exec",
            Trigger::Rest { .. } => "milvus-backup-rest",
            Trigger::Zilliz(_) => "zilliz-cloud",
        }
    }
}

/// The deterministic task id of a restore: readable, and unique per job, backup name, backup
/// id and manual retry.
pub fn restore_id(job: &str, backup: &str, backup_id: &str, retry: u32) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect()
    };
    let mut h = sha2::Sha256::new();
    for part in [job, backup, backup_id] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let hash = hex::encode(&h.finalize()[..4]);
    let mut id = format!("ferry-{}-{}-{hash}", clean(job), clean(backup));
    if retry > 0 {
        id.push_str(&format!("-r{retry}"));
    }
    id
}

/// Fills an argv template. Each element is substituted as a whole string: a backup name
/// with spaces or quotes stays one argument, and no shell ever sees it.
pub fn render_argv(template: &[String], vars: &[(&str, &str)]) -> Vec<String> {
    template
        .iter()
        .map(|t| {
            let mut out = String::with_capacity(t.len());
            let mut rest = t.as_str();
            while let Some(open) = rest.find('{') {
                out.push_str(&rest[..open]);
                let after = &rest[open + 1..];
                match after.find('}') {
                    Some(close) => {
                        let name = &after[..close];
                        match vars.iter().find(|(k, _)| *k == name) {
                            Some((_, v)) => out.push_str(v),
                            None => {
                                out.push('{');
                                out.push_str(name);
                                out.push('}');
                            }
                        }
                        rest = &after[close + 1..];
                    }
                    None => {
                        out.push_str(&rest[open..]);
                        rest = "";
                    }
                }
            }
            out.push_str(rest);
            out
        })
        .collect()
}

/// The placeholders an argv template may use.
pub const PLACEHOLDERS: &[&str] = &["backup", "suffix", "bucket", "path", "job", "id"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_safe() {
        let a = restore_id("job", "nightly 1/x", "abc", 0);
        assert_eq!(a, restore_id("job", "nightly 1/x", "abc", 0));
        assert!(a.starts_with("ferry-job-nightly_1_x-"), "{a}");
        assert_ne!(a, restore_id("job", "nightly 1/x", "abd", 0));
        assert!(restore_id("job", "n", "abc", 2).ends_with("-r2"));
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn argv_templates_substitute_whole_values_without_a_shell() {
        let t: Vec<String> = [
            "restore",
            "-n",
            "{backup}",
            "-s",
            "{suffix}",
            "--x={job}:{id}",
            "{nope}",
            "{",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let out = render_argv(
            &t,
            &[
                ("backup", "b; rm -rf / $(x)"),
                ("suffix", "_bak"),
                ("job", "j"),
                ("id", "i"),
            ],
        );
        assert_eq!(
            out,
            [
                "restore",
                "-n",
                "b; rm -rf / $(x)",
                "-s",
                "_bak",
                "--x=j:i",
                "{nope}",
                "{"
            ]
        );
    }
}

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
}

impl Trigger {
    /// Its kind, for status.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Exec { .. } => "exec",
            Trigger::Rest { .. } => "milvus-backup-rest",
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

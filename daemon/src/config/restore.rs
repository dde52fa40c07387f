//! `[jobs.restore]`: the trigger (a program's argv template, or milvus-backup's REST server),
//! which backups, the milvus-backup options.

use std::time::Duration;

use super::diag::Ctx;
use super::raw::RawRestore;
use super::types::ConfigError;
use crate::location::Location;
use crate::sync::filter::glob_set;

impl Ctx<'_> {
    pub(super) fn restore(
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
            "zilliz-cloud" => {
                if let Some(c) = &r.command {
                    return self.err(
                        Some(c.span()),
                        format!("jobs.restore.command of job {job:?}: only for kind = \"exec\""),
                    );
                }
                if let Some(u) = &r.url {
                    return self.err(
                        Some(u.span()),
                        format!("jobs.restore.url of job {job:?}: only for kind = \"milvus-backup-rest\" (Zilliz Cloud's control plane is `endpoint`)"),
                    );
                }
                Trigger::Zilliz(self.zilliz(job, r)?)
            }
            other => {
                return self.err(
                    Some(r.kind.span()),
                    format!("jobs.restore.kind of job {job:?}: {other:?} is not \"exec\", \"milvus-backup-rest\" or \"zilliz-cloud\""),
                );
            }
        };
        if matches!(trigger, Trigger::Zilliz(_)) {
            if let Some(s) = r
                .suffix
                .as_ref()
                .map(|s| s.span())
                .or(r.renames.as_ref().map(|s| s.span()))
            {
                return self.err(
                    Some(s),
                    format!("jobs.restore.suffix of job {job:?}: Zilliz Cloud migrations keep collection names (no suffix or renames)"),
                );
            }
        } else {
            self.no_zilliz_keys(job, r)?;
        }
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
        let verify = match &r.verify {
            Some(v) => Some(self.verify(job, v)?),
            None => None,
        };
        Ok(RestoreConfig {
            trigger,
            backups: filter,
            backup_patterns: patterns,
            suffix: r.suffix.as_ref().map(|s| s.get_ref().clone()),
            renames,
            timeout,
            bucket,
            path,
            verify,
        })
    }
}

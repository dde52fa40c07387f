//! `[[jobs]]`: a job's source and target (aliases resolved, no overlap), filters, limits,
//! intervals and its restore trigger.

use std::time::Duration;

use toml::Spanned;

use super::diag::Ctx;
use super::raw::RawJob;
use super::types::{BACKUP_LAYOUT, ConfigError, JobConfig};
use super::units::{parse_duration, parse_rate};
use crate::alias::AliasEntry;
use crate::location::{self, Location};
use crate::sync::filter::MaxDelete;

pub(super) type Resolve<'a> =
    dyn Fn(&str) -> Result<Option<AliasEntry>, crate::alias::AliasError> + 'a;

impl Ctx<'_> {
    pub(super) fn location(
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

    pub(super) fn duration(
        &self,
        job: &str,
        key: &str,
        v: &Spanned<String>,
    ) -> Result<Duration, ConfigError> {
        parse_duration(v.get_ref())
            .or_else(|e| self.err(Some(v.span()), format!("jobs.{key} of job {job:?}: {e}")))
    }

    pub(super) fn globs(
        &self,
        job: &str,
        key: &str,
        v: &Spanned<Vec<String>>,
    ) -> Result<(), ConfigError> {
        for g in v.get_ref() {
            if let Err(e) = globset::Glob::new(g) {
                return self.err(Some(v.span()), format!("jobs.{key} of job {job:?}: {e}"));
            }
        }
        Ok(())
    }

    pub(super) fn job(&self, j: &RawJob, resolve: &Resolve<'_>) -> Result<JobConfig, ConfigError> {
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
            from_url: j.from_url.as_ref().is_some_and(|v| *v.get_ref()),
            md5: j.md5.as_ref().is_some_and(|v| *v.get_ref()),
            verify: j.verify.as_ref().is_some_and(|v| *v.get_ref()),
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

fn valid_job_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

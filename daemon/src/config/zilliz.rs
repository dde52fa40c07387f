//! `[jobs.restore]` with `kind = "zilliz-cloud"`, and `[jobs.restore.verify]`: the secrets they
//! name (private files or environment variables, never the config's own text), the mode, the
//! URLs.

use std::time::Duration;

use toml::Spanned;

use super::diag::{Ctx, readable_by_others};
use super::raw::{RawRestore, RawVerify};
use super::types::ConfigError;
use crate::milvus::restore::{Secret, VerifyConfig, ZillizMode, ZillizTrigger};

/// Zilliz Cloud's public control plane.
pub const ZILLIZ_ENDPOINT: &str = "https://api.cloud.zilliz.com";

/// The URL forms Zilliz Cloud reads backups from (its migration guide).
const REMOTE_FORMS: &[&str] = &[
    "s3://",
    "gs://",
    "https://storage.cloud.google.com/",
    "https://s3.",
    "https://",
];

impl Ctx<'_> {
    /// A secret from `<name>_file` (private: mode 0600, like control.token_file) or
    /// `<name>_env`; `None` when neither is set.
    fn secret(
        &self,
        job: &str,
        name: &str,
        file: Option<&Spanned<String>>,
        env: Option<&Spanned<String>>,
    ) -> Result<Option<Secret>, ConfigError> {
        match (file, env) {
            (Some(f), Some(_)) => self.err(
                Some(f.span()),
                format!("jobs.restore.{name}_file of job {job:?}: set {name}_file or {name}_env, not both"),
            ),
            (Some(f), None) => {
                let path = self.path_of(f.get_ref());
                let text = match std::fs::read_to_string(&path) {
                    Ok(t) => t.trim().to_owned(),
                    Err(e) => {
                        return self.err(
                            Some(f.span()),
                            format!(
                                "jobs.restore.{name}_file of job {job:?}: cannot read {}: {e}",
                                path.display()
                            ),
                        );
                    }
                };
                if readable_by_others(&path) {
                    return self.err(
                        Some(f.span()),
                        format!(
                            "jobs.restore.{name}_file of job {job:?}: others may read {} (chmod 600)",
                            path.display()
                        ),
                    );
                }
                if text.is_empty() {
                    return self.err(
                        Some(f.span()),
                        format!(
                            "jobs.restore.{name}_file of job {job:?}: {} is empty",
                            path.display()
                        ),
                    );
                }
                Ok(Some(Secret::new(text)))
            }
            (None, Some(e)) => match std::env::var(e.get_ref()) {
                Ok(v) if !v.trim().is_empty() => Ok(Some(Secret::new(v.trim()))),
                _ => self.err(
                    Some(e.span()),
                    format!(
                        "jobs.restore.{name}_env of job {job:?}: the environment variable {} is not set",
                        e.get_ref()
                    ),
                ),
            },
            (None, None) => Ok(None),
        }
    }

    /// An `http(s)://host[:port]` URL, without a trailing `/`.
    fn base_url(&self, what: &str, v: &Spanned<String>) -> Result<String, ConfigError> {
        let u = v.get_ref().trim_end_matches('/');
        let ok = ["http://", "https://"]
            .iter()
            .find_map(|s| u.strip_prefix(s))
            .is_some_and(|h| !h.is_empty() && !h.contains('/'));
        if !ok {
            return self.err(
                Some(v.span()),
                format!("{what}: {u:?} is not http(s)://HOST[:PORT]"),
            );
        }
        Ok(u.to_owned())
    }

    pub(super) fn zilliz(&self, job: &str, r: &RawRestore) -> Result<ZillizTrigger, ConfigError> {
        let key = |k: &str| format!("jobs.restore.{k} of job {job:?}");
        let Some(cluster) = r
            .cluster_id
            .as_ref()
            .filter(|c| !c.get_ref().trim().is_empty())
        else {
            return self.err(
                Some(r.kind.span()),
                format!(
                    "{}: kind = \"zilliz-cloud\" needs cluster_id = \"in01-...\"",
                    key("cluster_id")
                ),
            );
        };
        let Some(api_key) = self.secret(
            job,
            "api_key",
            r.api_key_file.as_ref(),
            r.api_key_env.as_ref(),
        )?
        else {
            return self.err(
                Some(r.kind.span()),
                format!(
                    "{}: kind = \"zilliz-cloud\" needs api_key_file (mode 0600) or api_key_env (e.g. \"ZILLIZ_CLOUD_API_KEY\")",
                    key("api_key_file")
                ),
            );
        };
        let endpoint = match &r.endpoint {
            Some(e) => self.base_url(&key("endpoint"), e)?,
            None => ZILLIZ_ENDPOINT.to_owned(),
        };
        let mode = match r.mode.as_ref().map(|m| m.get_ref().as_str()) {
            Some("volume") | None => {
                self.only_for(
                    job,
                    &[
                        (r.source_url.as_ref(), "source_url"),
                        (r.access_key.as_ref(), "access_key"),
                        (r.secret_key_file.as_ref(), "secret_key_file"),
                        (r.secret_key_env.as_ref(), "secret_key_env"),
                    ],
                    "mode = \"remote\" (a volume gets its own credentials)",
                )?;
                ZillizMode::Volume
            }
            Some("remote") => {
                let Some(url) = &r.source_url else {
                    return self.err(
                        r.mode.as_ref().map(|m| m.span()),
                        format!(
                            "{}: mode = \"remote\" needs source_url, the backup root as Zilliz Cloud reads it (\"s3://BUCKET/backup/\", \"gs://...\", \"https://ACCOUNT.blob.core.windows.net/CONTAINER/backup/\")",
                            key("source_url")
                        ),
                    );
                };
                let u = url.get_ref().trim();
                let rest = REMOTE_FORMS.iter().find_map(|f| u.strip_prefix(f));
                if rest.is_none_or(|r| r.trim_matches('/').is_empty()) {
                    return self.err(
                        Some(url.span()),
                        format!(
                            "{}: {u:?} is not a URL Zilliz Cloud reads backups from (s3://BUCKET/PATH/, gs://BUCKET/PATH/, https://...)",
                            key("source_url")
                        ),
                    );
                }
                let secret = self.secret(
                    job,
                    "secret_key",
                    r.secret_key_file.as_ref(),
                    r.secret_key_env.as_ref(),
                )?;
                if secret.is_some() != r.access_key.is_some() {
                    let span = r
                        .access_key
                        .as_ref()
                        .map(|a| a.span())
                        .or(r.secret_key_file.as_ref().map(|f| f.span()))
                        .or(r.secret_key_env.as_ref().map(|f| f.span()));
                    return self.err(
                        span,
                        format!(
                            "{}: set access_key with secret_key_file or secret_key_env, or neither (storage Zilliz reads without keys)",
                            key("access_key")
                        ),
                    );
                }
                ZillizMode::Remote {
                    url: format!("{}/", u.trim_end_matches('/')),
                    access_key: r.access_key.as_ref().map(|a| a.get_ref().clone()),
                    secret_key: secret,
                }
            }
            Some(other) => {
                return self.err(
                    r.mode.as_ref().map(|m| m.span()),
                    format!("{}: {other:?} is not \"volume\" or \"remote\"", key("mode")),
                );
            }
        };
        let poll = match &r.poll {
            Some(p) => self.duration(job, "restore.poll", p)?,
            None => Duration::from_secs(15),
        };
        Ok(ZillizTrigger {
            endpoint,
            api_key,
            cluster_id: cluster.get_ref().trim().to_owned(),
            mode,
            poll,
        })
    }

    /// Refuses Zilliz Cloud's keys on another kind of trigger.
    pub(super) fn no_zilliz_keys(&self, job: &str, r: &RawRestore) -> Result<(), ConfigError> {
        self.only_for(
            job,
            &[
                (r.cluster_id.as_ref(), "cluster_id"),
                (r.api_key_file.as_ref(), "api_key_file"),
                (r.api_key_env.as_ref(), "api_key_env"),
                (r.endpoint.as_ref(), "endpoint"),
                (r.mode.as_ref(), "mode"),
                (r.source_url.as_ref(), "source_url"),
                (r.access_key.as_ref(), "access_key"),
                (r.secret_key_file.as_ref(), "secret_key_file"),
                (r.secret_key_env.as_ref(), "secret_key_env"),
            ],
            "kind = \"zilliz-cloud\"",
        )
    }

    /// Refuses the first of `keys` that is set: it is only for `what`.
    fn only_for(
        &self,
        job: &str,
        keys: &[(Option<&Spanned<String>>, &str)],
        what: &str,
    ) -> Result<(), ConfigError> {
        match keys.iter().find_map(|(v, k)| v.map(|v| (v, k))) {
            Some((v, k)) => self.err(
                Some(v.span()),
                format!("jobs.restore.{k} of job {job:?}: only for {what}"),
            ),
            None => Ok(()),
        }
    }

    pub(super) fn verify(
        &self,
        job: &str,
        v: &Spanned<RawVerify>,
    ) -> Result<VerifyConfig, ConfigError> {
        let raw = v.get_ref();
        let url = self.base_url(&format!("jobs.restore.verify.url of job {job:?}"), &raw.url)?;
        let token = self.secret(
            job,
            "verify.token",
            raw.token_file.as_ref(),
            raw.token_env.as_ref(),
        )?;
        let timeout = match &raw.timeout {
            Some(t) => self.duration(job, "restore.verify.timeout", t)?,
            None => Duration::from_secs(3600),
        };
        Ok(VerifyConfig {
            url,
            token,
            timeout,
        })
    }
}

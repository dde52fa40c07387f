//! `ferryd --check-config --connect`: beyond the file's syntax and rules, reach what each job
//! names: its source and target (the endpoint answers, the credentials are accepted, the
//! bucket exists; a local source is a folder, a local target is not a file), a backup job's
//! source is a backup root, and its restore trigger can run (the program is on PATH, the REST
//! server answers). Every problem is reported, by job and key, not only the first.

use std::path::{Path, PathBuf};

use super::types::{Config, JobConfig};
use crate::backend::error::display_chain;
use crate::location::{Location, Stores, file_in_the_way};
use crate::milvus::restore::Trigger;
use crate::sync::side::Side;

/// One thing a job names that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The job.
    pub job: String,
    /// The key at fault (`jobs.source`, `jobs.restore.command`).
    pub key: &'static str,
    /// What is wrong, in words.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "job {:?}: {}: {}", self.job, self.key, self.message)
    }
}

/// Checks every job of `config` against the world; empty when all is reachable.
pub async fn check_connections(config: &Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    for job in &config.jobs {
        check_job_into(job, &mut problems).await;
    }
    problems
}

/// Checks one job against the world; empty when all it names is reachable.
pub async fn check_job(job: &JobConfig) -> Vec<Problem> {
    let mut problems = Vec::new();
    check_job_into(job, &mut problems).await;
    problems
}

async fn check_job_into(job: &JobConfig, problems: &mut Vec<Problem>) {
    let mut report = |key, message: String| {
        problems.push(Problem {
            job: job.name.clone(),
            key,
            message,
        })
    };
    let mut stores = Stores::new();
    let source = open_end(&mut stores, &job.source, true).await;
    match &source {
        Ok(side) if job.backups => match crate::milvus::root::check_root(side).await {
            Ok(Ok(_)) => {}
            Ok(Err(wrong)) => {
                let shown = job.source.display();
                let mut m = format!("{shown}: {}", wrong.reason());
                if let Some(root) = wrong.root_to_use(&shown) {
                    m.push_str(&format!("; set source = {root:?}"));
                }
                report("jobs.source", m);
            }
            Err(e) => report("jobs.source", display_chain(&e)),
        },
        Ok(_) => {}
        Err(m) => report("jobs.source", m.clone()),
    }
    if let Err(m) = open_end(&mut stores, &job.target, false).await {
        report("jobs.target", m);
    }
    if let Some(restore) = &job.restore {
        match &restore.trigger {
            Trigger::Exec { argv } => {
                if let Some(program) = argv.first()
                    && find_program(program).is_none()
                {
                    report(
                        "jobs.restore.command",
                        format!("{program:?}: no such program (not on PATH, or not executable)"),
                    );
                }
            }
            Trigger::Rest { url, .. } => match crate::milvus::rest::RestClient::new(url) {
                Ok(c) => {
                    if let Err(e) = c.get_restore("ferry-check-config").await {
                        report("jobs.restore.url", display_chain(&e));
                    }
                }
                Err(e) => report("jobs.restore.url", display_chain(&e)),
            },
            Trigger::Zilliz(t) => {
                use crate::milvus::zilliz::{ZillizClient, ZillizError};
                // A job id that cannot exist: a known key gets "not found", a wrong one is
                // refused.
                match ZillizClient::new(&t.endpoint, t.api_key.expose()) {
                    Ok(c) => match c.job("ferry-check-config").await {
                        Ok(_) | Err(ZillizError::Api { .. }) => {}
                        Err(e) => report("jobs.restore.api_key_file", display_chain(&e)),
                    },
                    Err(e) => report("jobs.restore.endpoint", display_chain(&e)),
                }
            }
        }
        if let Some(v) = &restore.verify {
            let token = v.token.as_ref().map(|t| t.expose());
            match crate::milvus::counts::MilvusClient::new(&v.url, token) {
                Ok(c) => {
                    if let Err(e) = c.collections("default").await {
                        report("jobs.restore.verify.url", display_chain(&e));
                    }
                }
                Err(e) => report("jobs.restore.verify.url", display_chain(&e)),
            }
        }
    }
}

/// Opens one end and proves it usable; `Err` says why not.
async fn open_end(stores: &mut Stores, loc: &Location, source: bool) -> Result<Side, String> {
    let shown = loc.display();
    match loc {
        Location::Local { path, .. } => {
            if source && !path.is_dir() {
                return Err(format!("{shown}: no such folder"));
            }
            if !source && let Some(file) = file_in_the_way(path, true) {
                return Err(format!(
                    "{shown}: {} is a file, not a folder",
                    file.display()
                ));
            }
        }
        Location::Remote {
            alias,
            entry,
            bucket: Some(bucket),
            ..
        } => {
            let endpoint = stores
                .endpoint(alias, entry)
                .await
                .map_err(|e| about(&shown, &e))?;
            endpoint
                .head_bucket(bucket)
                .await
                .map_err(|e| about(&shown, &e))?;
        }
        Location::Remote { bucket: None, .. } => {
            return Err(format!("{shown}: name a bucket"));
        }
    }
    let (store, key) = stores
        .open(loc, true)
        .await
        .map_err(|e| about(&shown, &e))?;
    let prefix = if key.is_empty() || key.ends_with('/') {
        key
    } else {
        format!("{key}/")
    };
    Ok(Side { store, prefix })
}

/// `shown: error`, without the error's leading name when `shown` already says it (the
/// location `a/b/backup/` over the bucket's error `a/b: ...`).
fn about(shown: &str, err: &(dyn std::error::Error + 'static)) -> String {
    let chain = display_chain(err);
    match chain.split_once(": ") {
        Some((head, rest))
            if shown == head || shown.strip_prefix(head).is_some_and(|r| r.starts_with('/')) =>
        {
            format!("{shown}: {rest}")
        }
        _ => format!("{shown}: {chain}"),
    }
}

/// Where `program` runs from: itself when it names a path, else the first executable of that
/// name on PATH.
fn find_program(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return runnable(&p).then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| runnable(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_not_named_twice() {
        let e = std::io::Error::other("site/bkt: temporary failure: connection refused");
        assert_eq!(
            about("site/bkt/backup/", &e),
            "site/bkt/backup/: temporary failure: connection refused"
        );
        let other = std::io::Error::other("site/bk: nope");
        assert_eq!(about("site/bkt/", &other), "site/bkt/: site/bk: nope");
    }

    #[test]
    fn programs_are_found_on_path_or_by_their_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("/bin/sh").is_some());
        assert!(find_program("no-such-program-ferry").is_none());
        assert!(find_program("/etc/passwd").is_none(), "not executable");
    }
}

//! `ferryd`'s config file (TOML): where the manifest lives, the control API, aliases and jobs.
//!
//! Parsing is strict: an unknown key, a wrong type or a bad value is an error that names the
//! file, the line and the key. Everything a job needs is checked here (aliases resolve, sources
//! and targets do not overlap, globs compile, durations parse), so `ferryd --check-config` can
//! say "valid" and mean it. No network request is made.
//!
//! The commented reference is `configs/ferryd.toml`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use crate::alias::{AliasEntry, ConfigDir};

pub mod connect;
mod control;
mod diag;
pub mod edit;
mod job;
mod raw;
mod restore;
mod types;
mod units;
mod zilliz;
pub use zilliz::ZILLIZ_ENDPOINT;

use diag::{Ctx, readable_by_others};
use raw::Raw;
pub use types::{BACKUP_LAYOUT, Config, ConfigError, ControlConfig, JobConfig};
pub use units::{BadValue, parse_duration, parse_rate, parse_size};

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
        Self::parse_with_aliases(path, text, &BTreeMap::new())
    }

    /// [`Config::parse`] with `extra` aliases known besides the file's and the alias folder's
    /// (they win over both): a job can be checked before the aliases it names are saved.
    pub fn parse_with_aliases(
        path: &Path,
        text: &str,
        extra: &BTreeMap<String, AliasEntry>,
    ) -> Result<Config, ConfigError> {
        let cx = Ctx { path, text };
        let raw: Raw = cx.deserialize()?;

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

        let control = cx.control(&raw.control)?;

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
            if let Some(api) = &r.api {
                entry.api = api.clone();
            }
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
        aliases.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
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
            alias_dir: alias_dir.dir().to_owned(),
            state_dir,
            control,
            max_transfers,
            jobs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::Location;
    use crate::sync::filter::MaxDelete;
    use std::time::Duration;

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
            "{ALIAS}[[jobs]]\nname = \"a\"\nsource = \"s/bucket/backup\"\ntarget = \"./copy/\"\ninterval = \"5m\"\nreconcile = \"off\"\nworkers = 3\nbandwidth = \"10MiB/s\"\nmax_delete = \"5%\"\nremove = true\ninclude = [\"**\"]\nmd5 = true\nfrom_url = true\nverify = true\n"
        ))
        .expect("valid");
        let j = &c.jobs[0];
        assert!(!j.watch, "S3 sources are not watched");
        assert!(j.md5 && j.from_url && j.verify);
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
    fn zilliz_cloud_triggers_and_count_checks_parse_and_bad_ones_are_refused() {
        use crate::milvus::restore::{Trigger, ZillizMode};
        use std::os::unix::fs::PermissionsExt;
        let keys = tempfile::tempdir().expect("tmp");
        let key = keys.path().join("zilliz.key");
        std::fs::write(&key, "zk-SECRET-1234\n").expect("write");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let open = keys.path().join("open.key");
        std::fs::write(&open, "zk-open").expect("write");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let job = format!(
            "{ALIAS}[[jobs]]\nname = \"z\"\nsource = \"s/bkt/backup/\"\ntarget = \"/t/\"\n[jobs.restore]\nkind = \"zilliz-cloud\"\n"
        );
        let c = parse(&format!(
            "{job}cluster_id = \"in01-abc\"\napi_key_file = {key:?}\n[jobs.restore.verify]\nurl = \"http://milvus:19530/\"\ntoken_file = {key:?}\n"
        ))
        .expect("valid");
        let r = c.jobs[0].restore.as_ref().expect("restore");
        let Trigger::Zilliz(z) = &r.trigger else {
            panic!("{:?}", r.trigger)
        };
        assert_eq!(
            (
                z.endpoint.as_str(),
                z.cluster_id.as_str(),
                z.api_key.expose()
            ),
            (ZILLIZ_ENDPOINT, "in01-abc", "zk-SECRET-1234")
        );
        assert!(
            matches!(z.mode, ZillizMode::Volume),
            "volume is the default"
        );
        assert!(
            !format!("{c:?}").contains("zk-SECRET"),
            "secrets never in Debug"
        );
        let v = r.verify.as_ref().expect("verify");
        assert_eq!(v.url, "http://milvus:19530");
        let c = parse(&format!(
            "{job}cluster_id = \"in01-abc\"\napi_key_file = {key:?}\nmode = \"remote\"\nsource_url = \"s3://bkt/backup\"\naccess_key = \"AK\"\nsecret_key_file = {key:?}\nendpoint = \"http://127.0.0.1:9/\"\n"
        ))
        .expect("valid");
        let Some(Trigger::Zilliz(z)) = c.jobs[0].restore.as_ref().map(|r| &r.trigger) else {
            panic!()
        };
        assert!(
            matches!(&z.mode, ZillizMode::Remote { url, access_key: Some(a), secret_key: Some(_) } if url == "s3://bkt/backup/" && a == "AK")
        );
        assert_eq!(z.endpoint, "http://127.0.0.1:9");
        let cases: Vec<(String, &[&str])> = vec![
            (
                format!("{job}api_key_file = {key:?}\n"),
                &["jobs.restore.cluster_id", "needs cluster_id"],
            ),
            (
                format!("{job}cluster_id = \"c\"\n"),
                &["api_key_file", "api_key_env"],
            ),
            (
                format!("{job}cluster_id = \"c\"\napi_key_file = {open:?}\n"),
                &["jobs.restore.api_key_file", "others may read", "chmod 600"],
            ),
            (
                format!("{job}cluster_id = \"c\"\napi_key_env = \"FERRY_TEST_NO_SUCH_VARIABLE\"\n"),
                &[
                    "jobs.restore.api_key_env",
                    "FERRY_TEST_NO_SUCH_VARIABLE",
                    "not set",
                ],
            ),
            (
                format!("{job}cluster_id = \"c\"\napi_key_file = {key:?}\nmode = \"remote\"\n"),
                &["jobs.restore.source_url", "needs source_url"],
            ),
            (
                format!(
                    "{job}cluster_id = \"c\"\napi_key_file = {key:?}\nmode = \"remote\"\nsource_url = \"ftp://x/\"\n"
                ),
                &["jobs.restore.source_url", "ftp://x/"],
            ),
            (
                format!(
                    "{job}cluster_id = \"c\"\napi_key_file = {key:?}\nmode = \"remote\"\nsource_url = \"s3://b/p/\"\naccess_key = \"AK\"\n"
                ),
                &["jobs.restore.access_key", "secret_key_file"],
            ),
            (
                format!(
                    "{job}cluster_id = \"c\"\napi_key_file = {key:?}\nsource_url = \"s3://b/p/\"\n"
                ),
                &["jobs.restore.source_url", "only for mode = \"remote\""],
            ),
            (
                format!("{job}cluster_id = \"c\"\napi_key_file = {key:?}\nmode = \"push\"\n"),
                &["jobs.restore.mode", "\"push\""],
            ),
            (
                format!(
                    "{job}cluster_id = \"c\"\napi_key_file = {key:?}\nendpoint = \"api.cloud.zilliz.com\"\n"
                ),
                &["jobs.restore.endpoint", "http(s)://HOST"],
            ),
            (
                format!(
                    "{job}cluster_id = \"c\"\napi_key_file = {key:?}\n[jobs.restore.verify]\nurl = \"milvus:19530\"\n"
                ),
                &["jobs.restore.verify.url"],
            ),
            (
                format!(
                    "{ALIAS}[[jobs]]\nname = \"z\"\nsource = \"s/bkt/backup/\"\ntarget = \"/t/\"\n[jobs.restore]\nkind = \"exec\"\ncommand = [\"x\"]\ncluster_id = \"c\"\n"
                ),
                &[
                    "jobs.restore.cluster_id",
                    "only for kind = \"zilliz-cloud\"",
                ],
            ),
            (
                format!("{job}cluster_id = \"c\"\napi_key_file = {key:?}\nsuffix = \"_bak\"\n"),
                &["jobs.restore.suffix", "keep collection names"],
            ),
        ];
        for (text, needles) in cases {
            let e = err(&text);
            for n in needles {
                assert!(e.contains(n), "{n:?} not in {e:?}\n--- config:\n{text}");
            }
            assert!(!e.contains("zk-SECRET"), "{e}");
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

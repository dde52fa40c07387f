//! Adding a job to a config file (`ferry job add`): the file's text with the job's TOML
//! appended, checked as a whole, the way ferryd will read it, before anything is written; then
//! written atomically, keeping the file's mode (0600 for a new one: it may name secrets).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::types::{Config, ConfigError, JobConfig};
use crate::alias::AliasEntry;

/// A job to add, in the config file's terms.
#[derive(Debug, Clone, Default)]
pub struct NewJob {
    pub name: String,
    /// `ALIAS/BUCKET/PREFIX/` or a folder.
    pub source: String,
    pub target: String,
    /// `layout = "plain"` instead of milvus-backup backups.
    pub plain: bool,
    pub interval: Option<String>,
    pub restore: Option<NewRestore>,
    /// Comment lines written above the job (without `# `).
    pub comments: Vec<String>,
}

/// The job's `[jobs.restore]`.
#[derive(Debug, Clone)]
pub struct NewRestore {
    pub trigger: NewTrigger,
    /// Backups restored automatically (globs); empty: the default, all.
    pub backups: Vec<String>,
    pub suffix: Option<String>,
}

#[derive(Debug, Clone)]
pub enum NewTrigger {
    /// A program and its arguments (placeholders allowed).
    Exec(Vec<String>),
    /// milvus-backup's REST server.
    Rest(String),
}

fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| quoted(s)).collect();
    format!("[{}]", inner.join(", "))
}

impl NewJob {
    /// The job as TOML, `[[jobs]]` first.
    pub fn to_toml(&self) -> String {
        let mut t = String::new();
        for c in &self.comments {
            t.push_str(&format!("# {c}\n"));
        }
        t.push_str("[[jobs]]\n");
        t.push_str(&format!("name = {}\n", quoted(&self.name)));
        t.push_str(&format!("source = {}\n", quoted(&self.source)));
        t.push_str(&format!("target = {}\n", quoted(&self.target)));
        if self.plain {
            t.push_str("layout = \"plain\"\n");
        }
        if let Some(i) = &self.interval {
            t.push_str(&format!("interval = {}\n", quoted(i)));
        }
        if let Some(r) = &self.restore {
            t.push_str("\n[jobs.restore]\n");
            match &r.trigger {
                NewTrigger::Exec(argv) => {
                    t.push_str("kind = \"exec\"\n");
                    t.push_str(&format!("command = {}\n", list(argv)));
                }
                NewTrigger::Rest(url) => {
                    t.push_str("kind = \"milvus-backup-rest\"\n");
                    t.push_str(&format!("url = {}\n", quoted(url)));
                }
            }
            if !r.backups.is_empty() {
                t.push_str(&format!("backups = {}\n", list(&r.backups)));
            }
            if let Some(s) = &r.suffix {
                t.push_str(&format!("suffix = {}\n", quoted(s)));
            }
        }
        t
    }
}

/// A checked change to a config file, not written yet.
#[derive(Debug, Clone)]
pub struct Edit {
    pub path: PathBuf,
    /// Whether the file exists now.
    pub existed: bool,
    /// The whole new text.
    pub text: String,
    /// The part added.
    pub added: String,
    /// The config as ferryd will read it.
    pub config: Config,
}

impl Edit {
    /// The added job, as ferryd will read it.
    pub fn job(&self, name: &str) -> Option<&JobConfig> {
        self.config.jobs.iter().find(|j| j.name == name)
    }

    /// Writes the new text: a temp file beside the file, fsynced, renamed over it.
    pub fn write(&self) -> Result<(), ConfigError> {
        let werr = |source: std::io::Error| ConfigError::Write {
            path: self.path.clone(),
            source,
        };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(werr)?;
        let mode = match std::fs::metadata(&self.path) {
            Ok(m) => m.permissions().mode() & 0o7777,
            Err(_) => 0o600,
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".ferryd-config.")
            .permissions(std::fs::Permissions::from_mode(mode))
            .tempfile_in(&dir)
            .map_err(werr)?;
        tmp.write_all(self.text.as_bytes()).map_err(werr)?;
        tmp.as_file().sync_all().map_err(werr)?;
        tmp.persist(&self.path).map_err(|e| werr(e.error))?;
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(werr)
    }
}

/// The alias names a config file defines inline (`[aliases.NAME]`); empty when it has none
/// or is not TOML.
pub fn inline_aliases(text: &str) -> Vec<String> {
    text.parse::<toml::Table>()
        .ok()
        .and_then(|t| t.get("aliases").and_then(|a| a.as_table()).cloned())
        .map(|a| a.keys().cloned().collect())
        .unwrap_or_default()
}

/// `job` added to the config file at `path` (a new file when there is none, reading aliases
/// from `new_alias_dir`), checked as ferryd will read it with `extra` aliases known besides
/// the alias folder's. Nothing is written. An existing file may have no job yet; its own
/// errors are reported at their own lines.
pub fn add_job(
    path: &Path,
    job: &NewJob,
    new_alias_dir: &Path,
    extra: &BTreeMap<String, AliasEntry>,
) -> Result<Edit, ConfigError> {
    let (existed, before) = match std::fs::read_to_string(path) {
        Ok(t) => (true, t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (false, String::new()),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    // The file as it is must be valid, or the job appended to it would be blamed for the
    // file's own errors; only a file without jobs yet is checked with the job added.
    let has_jobs = before
        .parse::<toml::Table>()
        .map(|t| t.contains_key("jobs"))
        .unwrap_or(true);
    if existed && has_jobs {
        Config::parse(path, &before)?;
    }
    let added = job.to_toml();
    let mut text = before;
    if existed {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push('\n');
    } else {
        text.push_str(
            "# ferryd's config (see configs/ferryd.toml for every key), started by `ferry job add`.\n\n",
        );
        text.push_str(&format!(
            "# The alias file the jobs' aliases are in (the ferry CLI's).\nalias_dir = {}\n\n",
            quoted(&new_alias_dir.display().to_string())
        ));
    }
    text.push_str(&added);
    let config = Config::parse_with_aliases(path, &text, extra)?;
    Ok(Edit {
        path: path.to_owned(),
        existed,
        text,
        added,
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, source: &str, target: &str) -> NewJob {
        NewJob {
            name: name.into(),
            source: source.into(),
            target: target.into(),
            ..NewJob::default()
        }
    }

    #[test]
    fn a_new_file_is_started_and_checked_with_the_given_aliases() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("ferryd.toml");
        let mut extra = BTreeMap::new();
        extra.insert(
            "site-b".to_owned(),
            AliasEntry::new("http://127.0.0.1:9", "AK", "SK"),
        );
        let mut j = job(
            "a-to-b",
            &format!("{}/", dir.path().join("src").display()),
            "site-b/bkt/backup/",
        );
        j.restore = Some(NewRestore {
            trigger: NewTrigger::Exec(vec![
                "milvus-backup".into(),
                "--config".into(),
                "/etc/b \"q\".yaml".into(),
                "restore".into(),
                "-n".into(),
                "{backup}".into(),
            ]),
            backups: vec!["nightly_*".into()],
            suffix: Some("_bak".into()),
        });
        let edit = add_job(&path, &j, &dir.path().join("aliases"), &extra).expect("valid");
        assert!(!edit.existed);
        let added = edit.job("a-to-b").expect("job");
        let restore = added.restore.as_ref().expect("restore");
        assert_eq!(restore.suffix.as_deref(), Some("_bak"));
        assert_eq!(edit.config.alias_dir, dir.path().join("aliases"));
        edit.write().expect("write");
        let mode = std::fs::metadata(&path).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Without the alias, the same file is refused by name.
        let e = Config::load(&path).expect_err("alias unknown").to_string();
        assert!(e.contains("site-b"), "{e}");
    }

    #[test]
    fn an_existing_file_keeps_its_text_and_mode_and_refuses_a_second_job_of_a_name() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("ferryd.toml");
        let src = dir.path().join("src");
        let first = format!(
            "# mine\nstate_dir = {:?}\n[[jobs]]\nname = \"one\"\nsource = \"{}/\"\ntarget = \"{}/\"",
            dir.path().join("state").display(),
            src.display(),
            dir.path().join("t1").display()
        );
        std::fs::write(&path, &first).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let j = job(
            "two",
            &format!("{}/", src.display()),
            &format!("{}/", dir.path().join("t2").display()),
        );
        let edit = add_job(&path, &j, dir.path(), &BTreeMap::new()).expect("valid");
        assert!(edit.text.starts_with(&first), "{}", edit.text);
        edit.write().expect("write");
        assert_eq!(Config::load(&path).expect("valid").jobs.len(), 2);
        let mode = std::fs::metadata(&path).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let e = add_job(&path, &j, dir.path(), &BTreeMap::new())
            .expect_err("twice")
            .to_string();
        assert!(e.contains("\"two\" is used by two jobs"), "{e}");
    }

    #[test]
    fn a_broken_file_is_blamed_for_its_own_error() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("ferryd.toml");
        std::fs::write(&path, "[jobs]\nname = 1\n").expect("write");
        let j = job("x", "/a/", "/b/");
        let e = add_job(&path, &j, dir.path(), &BTreeMap::new())
            .expect_err("broken")
            .to_string();
        assert!(e.contains("ferryd.toml:1"), "{e}");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "[jobs]\nname = 1\n"
        );
    }

    #[test]
    fn a_file_of_settings_without_jobs_takes_its_first() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("ferryd.toml");
        std::fs::write(&path, "alias_dir = \"al\"\nmax_transfers = 8\n").expect("write");
        let j = job(
            "first",
            &format!("{}/", dir.path().display()),
            "/elsewhere/x/",
        );
        let edit = add_job(&path, &j, Path::new("/unused"), &BTreeMap::new()).expect("valid");
        assert_eq!(edit.config.alias_dir, dir.path().join("al"));
        assert_eq!(edit.config.max_transfers, 8);
    }

    #[test]
    fn inline_aliases_are_listed() {
        assert_eq!(
            inline_aliases("[aliases.a]\nurl = \"x\"\n[aliases.b]\nurl = \"y\"\n"),
            vec!["a", "b"]
        );
        assert!(inline_aliases("not toml [").is_empty());
    }
}

//! Diagnostics: every error names the file, the line (from the value's span) and the key
//! (from serde's path to the value that failed, by `serde_path_to_error`).

use std::path::{Path, PathBuf};

use super::raw::Raw;
use super::types::ConfigError;

/// The file being parsed: errors name it and the line.
pub(super) struct Ctx<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

impl Ctx<'_> {
    pub(super) fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|b| *b == b'\n')
            .count()
            + 1
    }

    pub(super) fn err<T>(
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

    /// Resolves a path relative to the config file's folder, made absolute and without `.`
    /// parts (so messages and the manifest name one place one way).
    pub(super) fn path_of(&self, p: &str) -> PathBuf {
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

pub(super) fn expand_home(p: &str) -> PathBuf {
    match p.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(rest.trim_start_matches('/')),
        _ => PathBuf::from(p),
    }
}

impl Ctx<'_> {
    /// Reads the file's text into the raw types; a syntax, type or unknown-key error names the
    /// key's path (`jobs[0].interval`) and its line.
    pub(super) fn deserialize(&self) -> Result<Raw, ConfigError> {
        let de = match toml::Deserializer::parse(self.text) {
            Ok(de) => de,
            Err(e) => return self.err(e.span(), e.message().trim().to_owned()),
        };
        serde_path_to_error::deserialize(de).or_else(|e| {
            let key = key_path(e.path());
            let inner = e.into_inner();
            let message = inner.message().trim();
            let mut message = if key.is_empty() {
                message.to_owned()
            } else {
                format!("{key}: {message}")
            };
            if let Some(hint) = table_hint(&key, &message) {
                message.push_str(hint);
            }
            self.err(inner.span(), message)
        })
    }
}

/// What to write instead when a table was written where an array of tables belongs, or the
/// reverse: `[jobs]` for `[[jobs]]` is the usual slip.
fn table_hint(key: &str, message: &str) -> Option<&'static str> {
    if key == "jobs" && message.contains("expected a sequence") {
        Some(" (each job is a [[jobs]] table, with two brackets: `[[jobs]]`, not `[jobs]`)")
    } else if key == "aliases" && message.contains("expected a map") {
        Some(" (each alias is an [aliases.NAME] table, with one pair of brackets)")
    } else if matches!(key, "control" | "transfer") && message.contains("expected") {
        Some(" (write it as a table, with one pair of brackets: `[control]`, `[transfer]`)")
    } else {
        None
    }
}

/// `jobs[0].interval`: serde's path to a value, without the wrappers that carry spans.
fn key_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if key.starts_with("$__serde_spanned_private") {
                    continue;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// Whether anyone but the owner may read the file.
#[cfg(unix)]
pub(super) fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}
#[cfg(not(unix))]
pub(super) fn readable_by_others(_: &Path) -> bool {
    false
}

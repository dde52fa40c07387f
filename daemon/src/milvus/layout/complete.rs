//! A backup's data against its meta: which expected objects are missing or have the wrong
//! size.

use super::meta::BackupMeta;

/// What is wrong with a backup's data against its meta.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completeness {
    /// Expected objects: how many.
    pub expected: u64,
    pub expected_bytes: u64,
    /// Objects not there (backup-relative keys).
    pub missing: Vec<String>,
    /// Objects there with another size: (key, expected, actual).
    pub wrong_size: Vec<(String, u64, u64)>,
}

impl Completeness {
    /// Checks `meta`'s expectations against `size_of(backup-relative key)`.
    pub fn check(meta: &BackupMeta, size_of: impl Fn(&str) -> Option<u64>) -> Completeness {
        let mut c = Completeness::default();
        for e in &meta.expected {
            c.expected += 1;
            c.expected_bytes += e.size;
            let found = size_of(&e.key)
                .map(|s| (e.key.as_str(), s))
                .or_else(|| e.alt.as_deref().and_then(|a| size_of(a).map(|s| (a, s))));
            match found {
                None => c.missing.push(e.key.clone()),
                Some((_, s)) if s == e.size => {}
                Some((k, s)) => c.wrong_size.push((k.to_owned(), e.size, s)),
            }
        }
        c
    }

    /// Whether everything expected is there with its size.
    pub fn is_whole(&self) -> bool {
        self.missing.is_empty() && self.wrong_size.is_empty()
    }

    /// One line for status: counts and the first few keys.
    pub fn describe(&self) -> String {
        const SHOW: usize = 3;
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            let shown: Vec<_> = self.missing.iter().take(SHOW).map(String::as_str).collect();
            let more = self.missing.len().saturating_sub(SHOW);
            parts.push(format!(
                "{} of {} data objects missing: {}{}",
                self.missing.len(),
                self.expected,
                shown.join(", "),
                if more > 0 {
                    format!(" (+{more} more)")
                } else {
                    String::new()
                }
            ));
        }
        if !self.wrong_size.is_empty() {
            let shown: Vec<_> = self
                .wrong_size
                .iter()
                .take(SHOW)
                .map(|(k, want, got)| format!("{k} is {got} bytes, the meta says {want}"))
                .collect();
            let more = self.wrong_size.len().saturating_sub(SHOW);
            parts.push(format!(
                "{} with the wrong size: {}{}",
                self.wrong_size.len(),
                shown.join(", "),
                if more > 0 {
                    format!(" (+{more} more)")
                } else {
                    String::new()
                }
            ));
        }
        parts.join("; ")
    }
}

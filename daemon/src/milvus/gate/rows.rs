//! A backup's manifest rows, read a page at a time: bounded memory on huge backups.

use std::collections::HashMap;

use ferry_state::ObjectRecord;

use super::run::Gate;
use crate::sync::policy::Run;
use crate::sync::report::MirrorError;

/// A backup's manifest rows, a page at a time (bounded memory on huge backups).
pub(super) struct Rows<'a> {
    pub(super) run: Run<'a>,
    pub(super) prefix: String,
    pub(super) after: Option<String>,
    pub(super) done: bool,
}

impl<'a> Rows<'a> {
    pub(super) fn of(run: Run<'a>, name: &str) -> Rows<'a> {
        Rows {
            run,
            prefix: format!("{name}/"),
            after: None,
            done: false,
        }
    }

    pub(super) fn next_page(&mut self) -> Result<Option<Vec<(String, ObjectRecord)>>, MirrorError> {
        if self.done {
            return Ok(None);
        }
        let page = self.run.manifest().objects_under(
            self.run.pair(),
            &self.prefix,
            self.after.as_deref(),
            1000,
        )?;
        match page.last() {
            Some((last, _)) => self.after = Some(last.clone()),
            None => {
                self.done = true;
                return Ok(None);
            }
        }
        Ok(Some(page))
    }
}

/// Objects and bytes the manifest holds for a backup.
pub(super) fn totals(run: Run<'_>, name: &str) -> Result<(u64, u64), MirrorError> {
    let (mut n, mut bytes) = (0u64, 0u64);
    let mut rows = Rows::of(run, name);
    while let Some(page) = rows.next_page()? {
        n += page.len() as u64;
        bytes += page.iter().map(|(_, r)| r.size).sum::<u64>();
    }
    Ok((n, bytes))
}

/// The manifest rows of a backup's data objects: backup-relative key → size.
pub(super) fn data_rows(run: Run<'_>, name: &str) -> Result<HashMap<String, u64>, MirrorError> {
    let mut out = HashMap::new();
    let mut rows = Rows::of(run, name);
    while let Some(page) = rows.next_page()? {
        for (rel, row) in page {
            if !Gate::holds(&rel) {
                out.insert(rel[name.len() + 1..].to_owned(), row.size);
            }
        }
    }
    Ok(out)
}

//! Is this a backup root? milvus-backup writes each backup as a folder `NAME/` holding `meta/`,
//! `binlogs/` (or `bundle/`) under its root (`backup/` by default). Given the wrong level —
//! the bucket above the root, one backup instead of the root, a folder inside a backup —
//! every folder would look like an incomplete backup and `meta/` or `binlogs/` like backups.
//! [`check_root`] tells these apart before anything is read or written, and says which root
//! to use.

use futures::TryStreamExt;

use crate::backend::{Error, ListEntry, ListOptions};
use crate::sync::side::Side;

/// The folders a backup holds directly.
const BACKUP_PARTS: [&str; 3] = ["meta/", "binlogs/", "bundle/"];

/// How many folders are looked into (one listing each) before giving up on finding backups
/// one level down.
const LOOK_BELOW: usize = 32;

/// What a backup root holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// Nothing yet (a new root).
    Empty,
    /// Backups: a folder holds `meta/`, `binlogs/` or `bundle/` (the first found is enough).
    Backups,
}

/// Where the backups are, when not directly under the root given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Misplaced {
    /// The root is itself one backup (it holds `meta/` or `binlogs/`): its parent is the root.
    OneBackup,
    /// The root is inside a backup (`…/NAME/meta/…`): the root is `up` levels up.
    Inside {
        /// Levels up to the root.
        up: usize,
    },
    /// Backups are one level down, in `sub` (ending with `/`).
    Below {
        /// The folder holding them.
        sub: String,
    },
    /// Nothing under it looks like a backup.
    Nowhere {
        /// Its first folders, as examples.
        folders: Vec<String>,
    },
}

/// A root that holds no backup directly, though it holds something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{root} is not a milvus-backup backup root: {}", self.reason())]
pub struct WrongRoot {
    /// The root as given (display form).
    pub root: String,
    /// Where the backups are.
    pub misplaced: Misplaced,
}

impl WrongRoot {
    /// Why, in words (without the root's name).
    pub fn reason(&self) -> String {
        match &self.misplaced {
            Misplaced::OneBackup => {
                "it is one backup (it holds meta/ or binlogs/); the root is the folder above it"
                    .into()
            }
            Misplaced::Inside { up } => format!(
                "it is inside a backup; the root is {up} level{} up",
                if *up == 1 { "" } else { "s" }
            ),
            Misplaced::Below { sub } => format!("its backups are one level down, in {sub}"),
            Misplaced::Nowhere { folders } if folders.is_empty() => {
                "it holds objects but no backup folder".into()
            }
            Misplaced::Nowhere { folders } => format!(
                "none of its folders ({}{}) holds meta/ or binlogs/",
                folders.join(", "),
                if folders.len() >= 5 { ", …" } else { "" }
            ),
        }
    }

    /// The root to use instead, written the way `written` (the argument as the user gave it)
    /// is; `None` when there is none to suggest.
    pub fn root_to_use(&self, written: &str) -> Option<String> {
        let base = written.trim_end_matches('/');
        match &self.misplaced {
            Misplaced::OneBackup => up(base, 1),
            Misplaced::Inside { up: n } => up(base, *n),
            Misplaced::Below { sub, .. } => Some(format!("{base}/{sub}")),
            Misplaced::Nowhere { .. } => None,
        }
    }
}

/// `path` without its last `n` segments, with a trailing `/`.
fn up(path: &str, n: usize) -> Option<String> {
    let mut p = path;
    for _ in 0..n {
        p = &p[..p.rfind('/')?];
    }
    (!p.is_empty()).then(|| format!("{p}/"))
}

/// Folders directly under `prefix` (full keys, ending with `/`).
async fn folders(side: &Side, prefix: &str) -> Result<(Vec<String>, bool), Error> {
    let mut folders = Vec::new();
    let mut objects = false;
    let mut listing = side.store.list(
        prefix,
        ListOptions {
            delimiter: true,
            ..ListOptions::default()
        },
    );
    while let Some(e) = listing.try_next().await? {
        match e {
            ListEntry::Prefix(p) => folders.push(p),
            ListEntry::Object(_) => objects = true,
        }
    }
    Ok((folders, objects))
}

fn name_in<'a>(prefix: &str, folder: &'a str) -> &'a str {
    folder.get(prefix.len()..).unwrap_or(folder)
}

/// Whether folder `prefix` (ending with `/`) is one backup.
async fn is_backup(side: &Side, prefix: &str) -> Result<bool, Error> {
    let (sub, _) = folders(side, prefix).await?;
    Ok(sub
        .iter()
        .any(|f| BACKUP_PARTS.contains(&name_in(prefix, f))))
}

/// Whether one of the first `limit` of `children` (folders under `prefix`) is a backup:
/// one listing each, up to the first backup.
async fn any_backup(
    side: &Side,
    prefix: &str,
    children: &[String],
    limit: usize,
) -> Result<bool, Error> {
    for c in children.iter().take(limit) {
        if !BACKUP_PARTS.contains(&name_in(prefix, c)) && is_backup(side, c).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Looks at `side` as a backup root: `Ok(Ok(..))` when it is one (or is empty),
/// `Ok(Err(WrongRoot))` when the backups are elsewhere, `Err` when it cannot be listed.
pub async fn check_root(side: &Side) -> Result<Result<Root, WrongRoot>, Error> {
    let wrong = |misplaced| {
        Ok(Err(WrongRoot {
            root: side.display(""),
            misplaced,
        }))
    };
    // Inside a backup, by the names on the way down (`NAME/meta/`, `NAME/binlogs/insert_log/…`),
    // in the prefix or, for a local folder, its path.
    let shown = side.display("");
    let segments: Vec<&str> = shown.split('/').filter(|s| !s.is_empty()).collect();
    if let Some(i) = segments
        .iter()
        .rposition(|s| BACKUP_PARTS.contains(&format!("{s}/").as_str()))
        && i >= 1
    {
        return wrong(Misplaced::Inside {
            up: segments.len() - i + 1,
        });
    }
    let (children, objects) = folders(side, &side.prefix).await?;
    if children.is_empty() {
        return Ok(if objects {
            Err(WrongRoot {
                root: side.display(""),
                misplaced: Misplaced::Nowhere {
                    folders: Vec::new(),
                },
            })
        } else {
            Ok(Root::Empty)
        });
    }
    if children
        .iter()
        .any(|c| BACKUP_PARTS.contains(&name_in(&side.prefix, c)))
    {
        return wrong(Misplaced::OneBackup);
    }
    if any_backup(side, &side.prefix, &children, usize::MAX).await? {
        return Ok(Ok(Root::Backups));
    }
    for c in children.iter().take(LOOK_BELOW) {
        let (grand, _) = folders(side, c).await?;
        if any_backup(side, c, &grand, LOOK_BELOW).await? {
            return wrong(Misplaced::Below {
                sub: name_in(&side.prefix, c).to_owned(),
            });
        }
    }
    wrong(Misplaced::Nowhere {
        folders: children
            .iter()
            .take(5)
            .map(|c| name_in(&side.prefix, c).to_owned())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrong(misplaced: Misplaced) -> WrongRoot {
        WrongRoot {
            root: "r".into(),
            misplaced,
        }
    }

    #[test]
    fn the_root_to_use_is_written_like_the_argument() {
        let below = wrong(Misplaced::Below {
            sub: "backup/".into(),
        });
        assert_eq!(
            below.root_to_use("site/bucket").as_deref(),
            Some("site/bucket/backup/")
        );
        assert_eq!(
            wrong(Misplaced::OneBackup)
                .root_to_use("site/b/backup/my_backup/")
                .as_deref(),
            Some("site/b/backup/")
        );
        assert_eq!(
            wrong(Misplaced::Inside { up: 3 })
                .root_to_use("/data/backup/b1/binlogs/insert_log")
                .as_deref(),
            Some("/data/backup/")
        );
        assert_eq!(wrong(Misplaced::OneBackup).root_to_use("b1"), None);
        assert!(
            below
                .to_string()
                .contains("its backups are one level down, in backup/")
        );
    }
}

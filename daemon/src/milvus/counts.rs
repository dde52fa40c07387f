//! Row counts after a restore: the backup's rows per collection (from its meta) against what the
//! restored collections report through Milvus' RESTful API v2 (the same on Zilliz Cloud cluster
//! endpoints): `collections/list` per database, then `collections/get_stats` per collection.
//!
//! What is compared, exactly: for each collection of the backup, the sum of `num_of_rows` over
//! its segments (L0 segments, which hold only deletes, excluded) against the restored
//! collection's `rowCount`. Neither side subtracts deletes: a backup's deleted rows live in its
//! delta logs as primary keys, and `get_stats` counts the rows of the segments loaded from the
//! binlogs. So equal numbers say every inserted row arrived; a restored count lower than the
//! backup's says rows are missing.

use std::collections::BTreeMap;

use ferry_state::CollectionCount;
use serde::Deserialize;

use super::layout::CollectionRows;
use crate::http::{Client, ClientError, Coded};

/// What can go wrong counting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CountError {
    /// The HTTP exchange failed.
    #[error(transparent)]
    Http(#[from] ClientError),
    /// The endpoint refused the token.
    #[error(
        "Milvus at {url} refused the token ({message}); check [jobs.restore.verify] token_file / token_env"
    )]
    Refused { url: String, message: String },
    /// A failure code.
    #[error("Milvus at {url} answered code {code}: {message}")]
    Api {
        url: String,
        code: i64,
        message: String,
    },
}

impl CountError {
    /// Worth asking again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, CountError::Http(e) if e.is_transient())
    }
}

/// A client of one Milvus REST endpoint.
#[derive(Debug)]
pub struct MilvusClient {
    http: Client,
}

impl MilvusClient {
    /// A client of `url` (`http(s)://host:port`) with an optional bearer token.
    pub fn new(url: &str, token: Option<&str>) -> Result<MilvusClient, ClientError> {
        Ok(MilvusClient {
            http: Client::new(url, token.map(str::to_owned), "Milvus", "")?,
        })
    }

    async fn call<T: serde::de::DeserializeOwned + Default>(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<T, CountError> {
        match self.http.coded(path, Some(&body), &[1800, 80001]).await {
            Ok(data) => Ok(data.unwrap_or_default()),
            Err(Coded::Http(e)) => Err(e.into()),
            Err(Coded::Refused { url, message }) => Err(CountError::Refused { url, message }),
            Err(Coded::Code { url, code, message }) => Err(CountError::Api { url, code, message }),
        }
    }

    /// The collections of database `db`.
    pub async fn collections(&self, db: &str) -> Result<Vec<String>, CountError> {
        self.call(
            "/v2/vectordb/collections/list",
            serde_json::json!({"dbName": db}),
        )
        .await
    }

    /// A collection's row count.
    pub async fn row_count(&self, db: &str, collection: &str) -> Result<u64, CountError> {
        #[derive(Deserialize, Default)]
        #[serde(rename_all = "camelCase", default)]
        struct Stats {
            row_count: serde_json::Value,
        }
        let s: Stats = self
            .call(
                "/v2/vectordb/collections/get_stats",
                serde_json::json!({"dbName": db, "collectionName": collection}),
            )
            .await?;
        // int64 may come as a number or a string.
        Ok(match &s.row_count {
            serde_json::Value::Number(n) => n.as_u64().unwrap_or(0),
            serde_json::Value::String(t) => t.trim().parse().unwrap_or(0),
            _ => 0,
        })
    }
}

/// The name a backed-up collection gets when restored with `suffix` and `renames`
/// (milvus-backup's `-s` and `-r`: `db.coll:db2.coll2`, `coll:coll2` in the default database,
/// `db.*:db2.*` for a whole database; a rename wins over the suffix), as `db.collection`.
pub fn restored_name(
    db: &str,
    name: &str,
    suffix: Option<&str>,
    renames: &[(String, String)],
) -> String {
    let full = format!("{db}.{name}");
    for (from, to) in renames {
        if *from == full || (db == "default" && from == name) {
            return if to.contains('.') {
                to.clone()
            } else {
                format!("{db}.{to}")
            };
        }
    }
    let db = renames
        .iter()
        .find_map(|(from, to)| {
            let from_db = from.strip_suffix(".*")?;
            let to_db = to.strip_suffix(".*")?;
            (from_db == db).then_some(to_db)
        })
        .unwrap_or(db);
    format!("{db}.{name}{}", suffix.unwrap_or(""))
}

/// The counts to check for a backup's collections, restored with `suffix` and `renames`.
pub fn expected(
    rows: &[CollectionRows],
    suffix: Option<&str>,
    renames: &[(String, String)],
) -> Vec<CollectionCount> {
    rows.iter()
        .map(|c| CollectionCount {
            collection: restored_name(&c.db, &c.name, suffix, renames),
            expected: c.rows,
            actual: None,
        })
        .collect()
}

/// What a count found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// Each collection with both numbers (`actual: None`: it is missing).
    pub counts: Vec<CollectionCount>,
    /// Whether every count matched.
    pub all_match: bool,
    /// One line for status.
    pub detail: String,
}

/// Counts the restored collections of `want` at `client`.
pub async fn count(client: &MilvusClient, want: &[CollectionCount]) -> Result<Counted, CountError> {
    let mut by_db: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for c in want {
        let (db, _) = c.collection.split_once('.').unwrap_or(("default", ""));
        if !by_db.contains_key(db) {
            by_db.insert(db, client.collections(db).await?);
        }
    }
    let mut counts = Vec::with_capacity(want.len());
    let mut wrong = Vec::new();
    for c in want {
        let (db, name) = c
            .collection
            .split_once('.')
            .unwrap_or(("default", &c.collection));
        let present = by_db.get(db).is_some_and(|l| l.iter().any(|n| n == name));
        let actual = if present {
            Some(client.row_count(db, name).await?)
        } else {
            None
        };
        match actual {
            Some(n) if n == c.expected => {}
            Some(n) => wrong.push(format!(
                "{}: backup {} rows, restored {n}",
                c.collection, c.expected
            )),
            None => wrong.push(format!(
                "{}: backup {} rows, restored collection missing",
                c.collection, c.expected
            )),
        }
        counts.push(CollectionCount {
            actual,
            ..c.clone()
        });
    }
    let all_match = wrong.is_empty();
    let detail = if all_match {
        let rows: u64 = counts.iter().map(|c| c.expected).sum();
        format!(
            "row counts match: {} collection{}, {rows} rows",
            counts.len(),
            if counts.len() == 1 { "" } else { "s" }
        )
    } else {
        format!("row counts differ: {}", wrong.join("; "))
    };
    Ok(Counted {
        counts,
        all_match,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restored_names_follow_milvus_backup_suffix_and_renames() {
        let r = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(
            restored_name("default", "c", Some("_bak"), &[]),
            "default.c_bak"
        );
        assert_eq!(restored_name("db1", "c", None, &[]), "db1.c");
        let renames = [
            r("db1.c1", "db2.c1_new"),
            r("c2", "c2_new"),
            r("db3.*", "db4.*"),
        ];
        assert_eq!(
            restored_name("db1", "c1", Some("_s"), &renames),
            "db2.c1_new"
        );
        assert_eq!(
            restored_name("default", "c2", Some("_s"), &renames),
            "default.c2_new"
        );
        assert_eq!(restored_name("db1", "c2", Some("_s"), &renames), "db1.c2_s");
        assert_eq!(restored_name("db3", "x", Some("_s"), &renames), "db4.x_s");
    }
}

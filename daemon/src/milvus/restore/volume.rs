//! Uploading a verified backup folder into a Zilliz Cloud volume (for storage Zilliz cannot
//! reach): apply for the volume, list what it already holds, copy the rest from the job's target
//! with the temporary credentials (applying again before they expire, or when refused), then
//! check the upload by one listing (key and size): the volume grants List and Put, not Head or
//! Get. Doing it again after a crash sends only what the volume lacks.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;

use crate::alias::AliasEntry;
use crate::backend::{Error as StoreError, ListEntry, ListOptions, ObjectStore};
use crate::location::Endpoint;
use crate::milvus::zilliz::{Volume, ZillizClient, ZillizError};
use crate::sync::side::Side;
use crate::sync::transfer::{TransferConfig, copy_object};

/// Credentials this close to their expiry are renewed before the next object (or a fifth of
/// their lifetime, for short-lived ones).
const RENEW_BEFORE: Duration = Duration::from_secs(120);

/// Whether credentials with `left` of a `lifetime` are renewed before the next object.
fn renew_due(left: Duration, lifetime: Duration) -> bool {
    left < RENEW_BEFORE.min(lifetime / 5)
}

/// Why an upload into a volume stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VolumeError {
    /// The control plane failed.
    #[error("applying for a Zilliz Cloud volume: {0}")]
    Apply(#[from] ZillizError),
    /// The volume is on a cloud this ferry cannot write to.
    #[error(
        "Zilliz Cloud granted a volume on {0:?}; this ferry uploads into AWS volumes only (use mode = \"remote\" with storage Zilliz Cloud reads)"
    )]
    Cloud(String),
    /// The volume's store could not be opened.
    #[error("opening the volume's bucket: {0}")]
    Open(String),
    /// Reading the backup at the target, or writing into the volume.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listing after the upload does not show every file.
    #[error(
        "the volume's listing after the upload lacks {missing} of {total} files (first: {first})"
    )]
    Incomplete {
        missing: usize,
        total: usize,
        first: String,
    },
    /// The backup folder at the target is empty.
    #[error("{0}: nothing to upload (no files under the backup's folder at the target)")]
    Empty(String),
    /// ferryd is stopping.
    #[error("stopped")]
    Stopped,
}

impl VolumeError {
    /// Worth trying again later (and safe: an upload is done again without harm).
    pub fn is_transient(&self) -> bool {
        match self {
            VolumeError::Apply(e) => e.is_transient(),
            VolumeError::Store(e) => e.is_transient(),
            VolumeError::Incomplete { .. } | VolumeError::Open(_) => true,
            _ => false,
        }
    }
}

/// What an upload did.
#[derive(Debug)]
pub(super) struct Uploaded {
    /// The volume (its name starts the migration).
    pub(super) volume: Volume,
    /// Files uploaded now, and already there.
    pub(super) sent: usize,
    pub(super) kept: usize,
}

/// A volume with its store, renewed when its credentials near expiry.
struct Open {
    volume: Volume,
    store: Arc<dyn ObjectStore>,
    expires: Option<chrono::DateTime<chrono::Utc>>,
    /// When they were granted.
    granted: chrono::DateTime<chrono::Utc>,
}

async fn apply(client: &ZillizClient, cluster: &str, path: &str) -> Result<Open, VolumeError> {
    let volume = client.apply_volume(cluster, path).await?;
    if !volume.cloud.eq_ignore_ascii_case("aws") {
        return Err(VolumeError::Cloud(volume.cloud.clone()));
    }
    let url = if volume.endpoint.starts_with("http://") || volume.endpoint.starts_with("https://") {
        volume.endpoint.clone()
    } else {
        format!("https://{}", volume.endpoint)
    };
    let c = &volume.credentials;
    let mut entry = AliasEntry::new(&url, &c.tmp_ak, &c.tmp_sk);
    entry.session_token = (!c.session_token.is_empty()).then(|| c.session_token.clone());
    entry.region = (!volume.region.is_empty()).then(|| volume.region.clone());
    let endpoint = Endpoint::connect("zilliz-volume", &entry)
        .await
        .map_err(|e| VolumeError::Open(e.to_string()))?;
    let expires = chrono::DateTime::parse_from_rfc3339(&c.expire_time)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc));
    Ok(Open {
        store: endpoint.bucket(&volume.bucket_name),
        volume,
        expires,
        granted: chrono::Utc::now(),
    })
}

impl Open {
    fn expiring(&self) -> bool {
        self.expires.is_some_and(|t| {
            let left = (t - chrono::Utc::now()).to_std().unwrap_or_default();
            let lifetime = (t - self.granted).to_std().unwrap_or_default();
            renew_due(left, lifetime)
        })
    }

    fn base(&self) -> String {
        let p = self.volume.upload_path.trim_matches('/');
        if p.is_empty() {
            String::new()
        } else {
            format!("{p}/")
        }
    }

    /// What the volume holds under its upload path: relative key → size.
    async fn held(&self) -> Result<HashMap<String, u64>, StoreError> {
        let base = self.base();
        let mut held = HashMap::new();
        let mut list = self.store.list(&base, ListOptions::default());
        while let Some(e) = list.try_next().await? {
            if let ListEntry::Object(m) = e
                && let Some(rel) = m.key.strip_prefix(&base)
            {
                held.insert(rel.to_owned(), m.size);
            }
        }
        Ok(held)
    }
}

/// Uploads the files of backup `name` under `target` into the volume applied for with
/// `path`, and checks them by listing.
pub(super) async fn upload(
    client: &ZillizClient,
    cluster: &str,
    target: &Side,
    name: &str,
    path: &str,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<Uploaded, VolumeError> {
    let mut open = apply(client, cluster, path).await?;
    // The backup's files at the target: relative key → size.
    let src_base = target.key(&format!("{name}/"));
    let mut files: Vec<(String, u64)> = Vec::new();
    let mut list = target.store.list(&src_base, ListOptions::default());
    while let Some(e) = list.try_next().await? {
        if let ListEntry::Object(m) = e
            && let Some(rel) = m.key.strip_prefix(&src_base)
            && !rel.is_empty()
            && !rel.ends_with('/')
        {
            files.push((rel.to_owned(), m.size));
        }
    }
    drop(list);
    if files.is_empty() {
        return Err(VolumeError::Empty(target.display(&format!("{name}/"))));
    }
    let mut held = match open.held().await {
        Ok(h) => h,
        Err(e) if is_refusal(&e) => {
            open = apply(client, cluster, path).await?;
            open.held().await?
        }
        Err(e) => return Err(e.into()),
    };
    let config = TransferConfig {
        sha256: false,
        ..TransferConfig::default()
    };
    let (mut sent, mut kept) = (0, 0);
    for (rel, size) in &files {
        if stop.is_cancelled() {
            return Err(VolumeError::Stopped);
        }
        if held.get(rel) == Some(size) {
            kept += 1;
            continue;
        }
        if open.expiring() {
            tracing::info!(volume = %open.volume.volume_name, "volume credentials near expiry; applying again");
            open = renew(client, cluster, path, &open, &mut held).await?;
        }
        let src_key = format!("{src_base}{rel}");
        match send(target, &src_key, *size, &open, rel, &config).await {
            Ok(()) => {}
            // Refused: the credentials expired before their stated time. Once more with new
            // ones.
            Err(e) if is_refusal(&e) => {
                tracing::info!(volume = %open.volume.volume_name, error = %e, "the volume refused its credentials; applying again");
                open = renew(client, cluster, path, &open, &mut held).await?;
                if held.get(rel) != Some(size) {
                    send(target, &src_key, *size, &open, rel, &config).await?;
                }
            }
            Err(e) => return Err(e.into()),
        }
        sent += 1;
        if (sent + kept) * 2 >= files.len() {
            crate::pause::point("volume-half-uploaded").await;
        }
    }
    // The check: one listing, every file with its size.
    if open.expiring() {
        open = renew(client, cluster, path, &open, &mut held).await?;
    }
    let now = match open.held().await {
        Ok(h) => h,
        Err(e) if is_refusal(&e) => {
            open = renew(client, cluster, path, &open, &mut held).await?;
            open.held().await?
        }
        Err(e) => return Err(e.into()),
    };
    let missing: Vec<&String> = files
        .iter()
        .filter(|(rel, size)| now.get(rel) != Some(size))
        .map(|(rel, _)| rel)
        .collect();
    if let Some(first) = missing.first() {
        return Err(VolumeError::Incomplete {
            missing: missing.len(),
            total: files.len(),
            first: (*first).clone(),
        });
    }
    Ok(Uploaded {
        volume: open.volume,
        sent,
        kept,
    })
}

/// New credentials for the same volume path; a volume that moved is listed again.
async fn renew(
    client: &ZillizClient,
    cluster: &str,
    path: &str,
    old: &Open,
    held: &mut HashMap<String, u64>,
) -> Result<Open, VolumeError> {
    let new = apply(client, cluster, path).await?;
    if new.volume.volume_name != old.volume.volume_name
        || new.volume.upload_path != old.volume.upload_path
        || new.volume.bucket_name != old.volume.bucket_name
    {
        *held = new.held().await?;
    }
    Ok(new)
}

/// Copies one file of the backup into the volume.
async fn send(
    target: &Side,
    src_key: &str,
    size: u64,
    open: &Open,
    rel: &str,
    config: &TransferConfig,
) -> Result<(), StoreError> {
    let dst_key = format!("{}{rel}", open.base());
    copy_object(
        &*target.store,
        src_key,
        size,
        &*open.store,
        &dst_key,
        config,
        None,
    )
    .await
    .map(|_| ())
}

fn is_refusal(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Unauthenticated { .. } | StoreError::PermissionDenied { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_renewed_two_minutes_or_a_fifth_of_their_life_before_expiry() {
        let m = |s: u64| Duration::from_secs(s);
        // An hour's credentials: renewed in their last two minutes.
        assert!(!renew_due(m(121), m(3600)));
        assert!(renew_due(m(119), m(3600)));
        // One minute's: in their last 12 seconds, not before every object.
        assert!(!renew_due(m(30), m(60)));
        assert!(renew_due(m(11), m(60)));
        // Expired (no time left): always.
        assert!(renew_due(Duration::ZERO, m(60)));
    }
}

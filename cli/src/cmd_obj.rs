//! `ferry stat`, `cat`, `rm`, `mb`, `rb`.

use std::io::Write;

use anyhow::{Context, bail};
use ferry_engine::backend::{Error, GetOptions, ListEntry, ListOptions, ObjectStore};
use ferry_engine::location::Location;
use futures::TryStreamExt;
use serde_json::json;

use crate::args::{CatArgs, MbArgs, RbArgs, RmArgs, StatArgs};
use crate::{Ctx, Status, output};

pub async fn stat(ctx: &mut Ctx, a: StatArgs) -> anyhow::Result<Status> {
    let loc = ctx.location(&a.target)?;
    let display = loc.display();
    if let Location::Remote {
        alias,
        entry,
        bucket: Some(bucket),
        key,
        ..
    } = &loc
        && key.is_empty()
    {
        ctx.stores
            .endpoint(alias, entry)
            .await?
            .head_bucket(bucket)
            .await?;
        return print_kv(
            ctx,
            &[("Name", format!("{bucket}/")), ("Type", "bucket".into())],
            json!({"status":"success","type":"bucket","name":bucket}),
        );
    }
    let folder_local = matches!(&loc, Location::Local { path, .. } if path.is_dir());
    let (store, key) = ctx.stores.open(&loc, folder_local).await?;
    if !folder_local && !key.ends_with('/') {
        match store.head(&key).await {
            Ok(m) => {
                let mut rows = vec![
                    ("Name", key.clone()),
                    (
                        "Size",
                        format!("{} ({} bytes)", output::human_size(m.size), m.size),
                    ),
                    ("Type", "file".into()),
                ];
                if let Some(t) = &m.last_modified {
                    rows.insert(1, ("Date", output::human_time(t)));
                }
                if let Some(e) = &m.e_tag {
                    rows.push(("ETag", e.clone()));
                }
                if let Some(c) = &m.storage_class {
                    rows.push(("Class", c.clone()));
                }
                if let Some(v) = &m.version {
                    rows.push(("VersionID", v.clone()));
                }
                let j = json!({"status":"success","type":"file","name":key,"size":m.size,"etag":m.e_tag,
                    "lastModified": m.last_modified.as_ref().map(output::json_time),"storageClass":m.storage_class,"versionId":m.version});
                return print_kv(ctx, &rows, j);
            }
            Err(e) if !(e.is_not_found() || e.is_transient()) => return Err(e.into()),
            Err(_) => {}
        }
    }
    // A folder: count what is below it.
    let prefix = if key.is_empty() || key.ends_with('/') {
        key.clone()
    } else {
        format!("{key}/")
    };
    let (mut n, mut bytes) = (0u64, 0u64);
    let mut l = store.list(&prefix, ListOptions::default());
    while let Some(e) = l.try_next().await? {
        if let ListEntry::Object(m) = e {
            n += 1;
            bytes += m.size;
        }
    }
    if n == 0 && !folder_local {
        bail!("{display}: no such object or prefix");
    }
    print_kv(
        ctx,
        &[
            ("Name", display.clone()),
            ("Type", "folder".into()),
            ("Objects", n.to_string()),
            ("Size", output::human_size(bytes)),
        ],
        json!({"status":"success","type":"folder","name":display,"objects":n,"size":bytes}),
    )
}

fn print_kv(ctx: &Ctx, rows: &[(&str, String)], j: serde_json::Value) -> anyhow::Result<Status> {
    if ctx.json {
        output::json(&j)?;
    } else {
        for (k, v) in rows {
            output::line(&format!("{k:<10}: {v}"))?;
        }
    }
    Ok(Status::Ok)
}

pub async fn cat(ctx: &mut Ctx, a: CatArgs) -> anyhow::Result<Status> {
    for t in &a.targets {
        let loc = ctx.location(t)?;
        let (store, key) = ctx.stores.open(&loc, false).await?;
        let got = store.get(&key, GetOptions::default()).await?;
        let mut body = got.body;
        let mut out = std::io::stdout().lock();
        while let Some(chunk) = body.try_next().await? {
            out.write_all(&chunk)?;
        }
        out.flush()?;
    }
    Ok(Status::Ok)
}

pub async fn rm(ctx: &mut Ctx, a: RmArgs) -> anyhow::Result<Status> {
    if a.recursive && !a.force && !a.dry_run {
        bail!("removing recursively needs --force (or --dry-run to see what would go)");
    }
    if a.incomplete {
        return rm_incomplete(ctx, &a).await;
    }
    let mut failed = false;
    for t in &a.targets {
        let loc = ctx.location(t)?;
        let display = loc.display();
        if let Location::Remote { bucket: None, .. } = &loc {
            bail!("{display}: name a bucket (ALIAS/BUCKET/KEY)");
        }
        let folder_local = matches!(&loc, Location::Local { path, .. } if path.is_dir());
        if folder_local && !a.recursive {
            bail!("{display}: is a folder; remove it with --recursive --force");
        }
        let (store, key) = ctx.stores.open(&loc, folder_local).await?;
        let keys: Vec<String> = if a.recursive {
            let prefix = if key.is_empty() || key.ends_with('/') {
                key.clone()
            } else {
                format!("{key}/")
            };
            let mut keys = object_keys(&*store, &prefix).await?;
            if !key.is_empty() && !key.ends_with('/') && store.head(&key).await.is_ok() {
                keys.push(key.clone());
            }
            keys
        } else {
            let found = match store.head(&key).await {
                Ok(_) => true,
                Err(e) if e.is_not_found() => false,
                // Some servers fail a HEAD of a key that is also a folder on their disk.
                Err(e) if is_prefix(&*store, &key).await.unwrap_or(false) => {
                    tracing::debug!(error = %e, "HEAD failed; the key is a prefix");
                    false
                }
                Err(e) => return Err(e.into()),
            };
            // A folder marker (`dir/`) with objects under it, or a key that is only a prefix.
            if (!found || key.ends_with('/')) && is_prefix(&*store, &key).await? {
                bail!(
                    "{display}: is a prefix, not an object; remove everything under it with --recursive --force"
                );
            }
            if !found {
                bail!("{display}: no such object");
            }
            vec![key.clone()]
        };
        if keys.is_empty() {
            bail!("{display}: nothing to remove");
        }
        failed |= remove(ctx, &*store, &keys, a.dry_run).await?;
    }
    Ok(if failed { Status::Failed } else { Status::Ok })
}

/// `rm --incomplete`: aborts the unfinished uploads of a key, or (with -r --force) of every
/// key under a prefix.
async fn rm_incomplete(ctx: &mut Ctx, a: &RmArgs) -> anyhow::Result<Status> {
    let mut failed = false;
    for t in &a.targets {
        let loc = ctx.location(t)?;
        if let Location::Remote { bucket: None, .. } = &loc {
            bail!("{t}: name a bucket (ALIAS/BUCKET/KEY)");
        }
        let folder = matches!(&loc, Location::Local { path, .. } if path.is_dir());
        let (store, key) = ctx.stores.open(&loc, folder || loc.is_remote()).await?;
        let uploads: Vec<_> = store
            .list_uploads(&key)
            .await?
            .into_iter()
            .filter(|u| a.recursive || u.key == key)
            .collect();
        if uploads.is_empty() {
            bail!(
                "{t}: no unfinished upload{}",
                if a.recursive {
                    "s under it"
                } else {
                    " of that key (a prefix needs --recursive --force)"
                }
            );
        }
        for u in uploads {
            let shown = format!("{}/{}", store.to_string().trim_end_matches('/'), u.key);
            let result = if a.dry_run {
                Ok(())
            } else {
                store.abort_multipart(&u.key, &u.upload_id).await
            };
            match result {
                Ok(()) if ctx.json => output::json(&json!({
                    "status": "success", "key": shown, "uploadId": u.upload_id, "dryRun": a.dry_run,
                }))?,
                Ok(()) if !ctx.quiet => {
                    let verb = if a.dry_run { "Would remove" } else { "Removed" };
                    output::line(&format!("{verb} unfinished upload of `{shown}`."))?;
                }
                Ok(()) => {}
                Err(e) => {
                    failed = true;
                    let err = anyhow::Error::from(e);
                    if ctx.json {
                        output::json_error(json!({ "key": shown }), &err)?;
                    } else {
                        output::print_error(&err, false);
                    }
                }
            }
        }
    }
    Ok(if failed { Status::Failed } else { Status::Ok })
}

/// Whether objects lie under `key` taken as a folder.
async fn is_prefix(store: &dyn ObjectStore, key: &str) -> Result<bool, Error> {
    let prefix = if key.is_empty() || key.ends_with('/') {
        key.to_owned()
    } else {
        format!("{key}/")
    };
    let mut listing = store.list(
        &prefix,
        ListOptions {
            delimiter: true,
            ..ListOptions::default()
        },
    );
    while let Some(e) = listing.try_next().await? {
        match e {
            ListEntry::Object(m) if m.key == prefix => continue,
            _ => return Ok(true),
        }
    }
    Ok(false)
}

/// Every object key under `prefix`.
async fn object_keys(store: &dyn ObjectStore, prefix: &str) -> Result<Vec<String>, Error> {
    store
        .list(prefix, ListOptions::default())
        .try_filter_map(|e| {
            futures::future::ready(Ok(match e {
                ListEntry::Object(m) => Some(m.key),
                ListEntry::Prefix(_) => None,
            }))
        })
        .try_collect()
        .await
}

async fn remove(
    ctx: &Ctx,
    store: &dyn ObjectStore,
    keys: &[String],
    dry_run: bool,
) -> anyhow::Result<bool> {
    let failures = if dry_run {
        Vec::new()
    } else {
        store.delete(keys).await?
    };
    let failed: std::collections::HashSet<&str> = failures.iter().map(|f| f.key.as_str()).collect();
    for k in keys.iter().filter(|k| !failed.contains(k.as_str())) {
        let shown = format!("{}/{k}", store.to_string().trim_end_matches('/'));
        if ctx.json {
            output::json(&json!({"status":"success","key":shown,"dryRun":dry_run}))?;
        } else if !ctx.quiet {
            let verb = if dry_run { "Would remove" } else { "Removed" };
            output::line(&format!("{verb} `{shown}`."))?;
        }
    }
    let any_failed = !failures.is_empty();
    for f in failures {
        let err = anyhow::Error::from(f.error);
        if ctx.json {
            output::json_error(json!({ "key": f.key }), &err)?;
        } else {
            output::print_error(&err, false);
        }
    }
    Ok(any_failed)
}

pub async fn mb(ctx: &mut Ctx, a: MbArgs) -> anyhow::Result<Status> {
    for t in &a.targets {
        let loc = ctx.location(t)?;
        match &loc {
            Location::Remote {
                alias,
                entry,
                bucket: Some(bucket),
                key,
                ..
            } if key.is_empty() => {
                let ep = ctx.stores.endpoint(alias, entry).await?;
                match ep.create_bucket(bucket).await {
                    Ok(()) => {}
                    Err(Error::AlreadyExists { .. }) if a.ignore_existing => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Location::Remote { .. } => {
                bail!("{}: give ALIAS/BUCKET to make a bucket", loc.display())
            }
            Location::Local { path, .. } => {
                if path.exists() && !a.ignore_existing {
                    bail!("{}: already exists", path.display());
                }
                std::fs::create_dir_all(path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
            }
        }
        if ctx.json {
            output::json(&json!({"status":"success","bucket":loc.display()}))?;
        } else if !ctx.quiet {
            output::line(&format!("Bucket created successfully `{}`.", loc.display()))?;
        }
    }
    Ok(Status::Ok)
}

pub async fn rb(ctx: &mut Ctx, a: RbArgs) -> anyhow::Result<Status> {
    for t in &a.targets {
        let loc = ctx.location(t)?;
        let Location::Remote {
            alias,
            entry,
            bucket: Some(bucket),
            key,
            ..
        } = &loc
        else {
            bail!("{}: give ALIAS/BUCKET to remove a bucket", loc.display());
        };
        if !key.is_empty() {
            bail!(
                "{}: give ALIAS/BUCKET (no prefix) to remove a bucket",
                loc.display()
            );
        }
        let ep = ctx.stores.endpoint(alias, entry).await?;
        if a.force {
            let store = ep.bucket(bucket);
            let keys = object_keys(store.as_ref(), "").await?;
            let failures = store.delete(&keys).await?;
            if let Some(f) = failures.into_iter().next() {
                return Err(
                    anyhow::Error::from(f.error).context(format!("cannot empty {}", loc.display()))
                );
            }
        }
        ep.delete_bucket(bucket).await.map_err(|e| {
            let hint = if matches!(e, Error::Generic { .. }) && !a.force {
                " (not empty? use --force)"
            } else {
                ""
            };
            anyhow::Error::from(e).context(format!("cannot remove {}{hint}", loc.display()))
        })?;
        if ctx.json {
            output::json(&json!({"status":"success","bucket":loc.display()}))?;
        } else if !ctx.quiet {
            output::line(&format!("Removed `{}` successfully.", loc.display()))?;
        }
    }
    Ok(Status::Ok)
}

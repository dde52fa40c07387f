//! `ferry ls`.

use chrono::{DateTime, Utc};
use ferry_engine::backend::{ListEntry, ListOptions, ObjectMeta};
use ferry_engine::location::Location;
use futures::TryStreamExt;
use serde_json::json;

use crate::args::LsArgs;
use crate::{Ctx, Status, output};

struct Totals {
    objects: u64,
    bytes: u64,
}

pub async fn run(ctx: &mut Ctx, a: LsArgs) -> anyhow::Result<Status> {
    if a.incomplete {
        return incomplete(ctx, &a).await;
    }
    let loc = ctx.location(&a.target)?;
    let mut totals = Totals {
        objects: 0,
        bytes: 0,
    };
    match &loc {
        Location::Remote {
            alias,
            entry,
            bucket: None,
            ..
        } => {
            let ep = ctx.stores.endpoint(alias, entry).await?;
            for b in ep.list_buckets().await? {
                print_line(
                    ctx,
                    &loc,
                    None,
                    b.created.as_ref(),
                    0,
                    &format!("{}/", b.name),
                    None,
                    None,
                    true,
                )?;
            }
            return Ok(Status::Ok);
        }
        Location::Local { path, .. } => {
            let md = match std::fs::metadata(path) {
                Ok(md) => md,
                Err(e) => {
                    if let Some(head) = ferry_engine::location::missing_alias_like_head(&a.target) {
                        anyhow::bail!(
                            "{}: no such file or folder, and {head:?} is not an alias (see `ferry alias ls`)",
                            a.target
                        );
                    }
                    return Err(anyhow::Error::new(e).context(path.display().to_string()));
                }
            };
            if md.is_file() {
                let (store, key) = ctx.stores.open(&loc, false).await?;
                let meta = store.head(&key).await?;
                print_object(ctx, &loc, &meta, &key, &mut totals)?;
                return summarize(ctx, &a, &totals);
            }
        }
        Location::Remote { .. } => {}
    }
    let (store, key) = ctx.stores.open(&loc, true).await?;
    // `a/b/dir` without a slash: an object of that name, else the folder.
    let mut prefix = key.clone();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        match store.head(&prefix).await {
            Ok(meta) => {
                let name = prefix.rsplit('/').next().unwrap_or(&prefix).to_owned();
                print_object(ctx, &loc, &meta, &name, &mut totals)?;
                return summarize(ctx, &a, &totals);
            }
            Err(e) if e.is_not_found() || e.is_transient() => prefix.push('/'),
            Err(e) => return Err(e.into()),
        }
    }
    let mut listing = store.list(
        &prefix,
        ListOptions {
            delimiter: !a.recursive,
            start_after: None,
        },
    );
    let mut any = false;
    while let Some(entry) = listing.try_next().await? {
        any = true;
        match entry {
            ListEntry::Object(mut meta) => {
                // Some servers (s3s-fs) list objects without their ETag: `--json` shows it
                // anyway, at one HEAD each (never on servers that list it).
                if ctx.json
                    && meta.e_tag.is_none()
                    && let Ok(head) = store.head(&meta.key).await
                {
                    meta.e_tag = head.e_tag;
                }
                let rel = meta.key[prefix.len()..].to_owned();
                print_object(ctx, &loc, &meta, &rel, &mut totals)?;
            }
            ListEntry::Prefix(p) => {
                let rel = &p[prefix.len()..];
                print_line(ctx, &loc, None, None, 0, rel, None, None, true)?;
            }
        }
    }
    if !any && !prefix.is_empty() && loc.is_remote() {
        anyhow::bail!("{}: no such object or prefix", loc.display());
    }
    summarize(ctx, &a, &totals)
}

/// `ls --incomplete`: the unfinished uploads under the target.
async fn incomplete(ctx: &mut Ctx, a: &LsArgs) -> anyhow::Result<Status> {
    let loc = ctx.location(&a.target)?;
    if let Location::Remote { bucket: None, .. } = &loc {
        anyhow::bail!("{}: name a bucket (ALIAS/BUCKET[/PREFIX])", a.target);
    }
    let folder = matches!(&loc, Location::Local { path, .. } if path.is_dir());
    let (store, prefix) = ctx.stores.open(&loc, folder || loc.is_remote()).await?;
    let uploads = store.list_uploads(&prefix).await?;
    let base = a.target.trim_end_matches('/');
    for u in &uploads {
        let rel = u.key.get(prefix.len()..).unwrap_or(&u.key);
        let rel = rel.trim_start_matches('/');
        if !a.recursive && rel.contains('/') {
            continue;
        }
        if ctx.json {
            output::json(&json!({
                "status": "success", "type": "upload", "key": format!("{base}/{rel}"),
                "uploadId": u.upload_id,
                "initiated": u.initiated.as_ref().map(output::json_time),
            }))?;
        } else {
            let when = match &u.initiated {
                Some(t) => format!("[{}]", output::human_time(t)),
                None => " ".repeat(25),
            };
            output::line(&format!("{when} {:>7} {rel}", "upload"))?;
        }
    }
    if uploads.is_empty() && !ctx.json && !ctx.quiet {
        eprintln!("No unfinished uploads under {}.", a.target);
    }
    Ok(Status::Ok)
}

fn print_object(
    ctx: &Ctx,
    loc: &Location,
    meta: &ObjectMeta,
    name: &str,
    totals: &mut Totals,
) -> anyhow::Result<()> {
    totals.objects += 1;
    totals.bytes += meta.size;
    print_line(
        ctx,
        loc,
        Some(meta),
        meta.last_modified.as_ref(),
        meta.size,
        name,
        meta.storage_class.as_deref(),
        meta.e_tag.as_deref(),
        false,
    )
}

#[allow(clippy::too_many_arguments)]
fn print_line(
    ctx: &Ctx,
    loc: &Location,
    meta: Option<&ObjectMeta>,
    time: Option<&DateTime<Utc>>,
    size: u64,
    name: &str,
    class: Option<&str>,
    etag: Option<&str>,
    folder: bool,
) -> anyhow::Result<()> {
    if ctx.json {
        let mut v = json!({
            "status": "success",
            "type": if folder { "folder" } else { "file" },
            "size": size,
            "key": name,
            "url": loc.display(),
        });
        if let Some(t) = time {
            v["lastModified"] = json!(output::json_time(t));
        }
        if let Some(e) = etag {
            v["etag"] = json!(e);
        }
        if let Some(c) = class {
            v["storageClass"] = json!(c);
        }
        if let Some(ver) = meta.and_then(|m| m.version.as_deref()) {
            v["versionId"] = json!(ver);
        }
        output::json(&v)?;
        return Ok(());
    }
    let when = match time {
        Some(t) => format!("[{}]", output::human_time(t)),
        None => " ".repeat(25),
    };
    let class = class.map(|c| format!(" {c}")).unwrap_or_default();
    output::line(&format!(
        "{when} {:>7}{class} {name}",
        output::human_size(size)
    ))?;
    Ok(())
}

fn summarize(ctx: &Ctx, a: &LsArgs, totals: &Totals) -> anyhow::Result<Status> {
    if a.summarize {
        if ctx.json {
            output::json(
                &json!({"status": "success", "totalObjects": totals.objects, "totalSize": totals.bytes}),
            )?;
        } else {
            output::line("")?;
            output::line(&format!("Total Size: {}", output::human_size(totals.bytes)))?;
            output::line(&format!("Total Objects: {}", totals.objects))?;
        }
    }
    Ok(Status::Ok)
}

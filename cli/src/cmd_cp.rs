//! `ferry cp`.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use ferry_engine::location::{self, Location};
use ferry_engine::sync::cp::{self, CpError, CpOptions, Source, Target};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::args::CpArgs;
use crate::{Ctx, Status, output};

pub async fn run(ctx: &mut Ctx, a: CpArgs) -> anyhow::Result<Status> {
    ctx.stores.copy_from_url(a.transfer.from_url);
    let (dst_arg, src_args) = a
        .paths
        .split_last()
        .context("cp needs a source and a target")?;
    let dst_loc = ctx.location(dst_arg)?;
    if let Location::Local { .. } = dst_loc
        && let Some(head) = location::missing_alias_like_head(dst_arg)
    {
        bail!(
            "{dst_arg}: {head:?} is neither an alias nor an existing folder (see `ferry alias ls`; to copy into a new local folder write ./{dst_arg})"
        );
    }
    if let Location::Local { .. } = dst_loc {
        ctx.refuse_mistyped_alias(dst_arg)?;
    }

    let target = resolve_target(ctx, &dst_loc, a.recursive || src_args.len() > 1).await?;
    let mut sources = Vec::with_capacity(src_args.len());
    for arg in src_args {
        let mut src = resolve_source(ctx, arg, a.recursive).await?;
        cp::check_not_into_itself(&src, &target)?;
        src.store = a.transfer.throttled(src.store);
        sources.push(src);
    }

    let jobs = futures::stream::iter(
        sources
            .iter()
            .map(|s| cp::jobs(s, &target))
            .collect::<Vec<_>>(),
    )
    .flatten()
    .boxed();
    let options = CpOptions {
        workers: a.transfer.workers(),
        dry_run: a.dry_run,
        // cp keeps no manifest: no SHA-256 of large copies that nobody would read.
        transfer: ferry_engine::sync::transfer::TransferConfig {
            sha256: false,
            ..a.transfer.config()
        },
    };
    report(ctx, cp::run(jobs, options), a.dry_run).await
}

/// Where objects land: a folder, or an exact object name.
async fn resolve_target(ctx: &mut Ctx, loc: &Location, many: bool) -> anyhow::Result<Target> {
    let display = loc.display();
    match loc {
        Location::Remote {
            alias,
            entry,
            bucket,
            ..
        } => {
            let Some(bucket) = bucket else {
                bail!("{display}: a bucket is needed as the target (ALIAS/BUCKET[/PREFIX])");
            };
            let ep = ctx.stores.endpoint(alias, entry).await?;
            ep.head_bucket(bucket)
                .await
                .map_err(anyhow::Error::from)
                .with_context(|| format!("target bucket {alias}/{bucket}"))?;
            let (store, key) = ctx.stores.open(loc, true).await?;
            let mut folder = many || key.is_empty() || key.ends_with('/');
            if !folder {
                // `a/b/name` is a folder when objects already live under `name/`.
                let mut l = store.list(&format!("{key}/"), Default::default());
                folder = l.next().await.transpose()?.is_some();
            }
            Ok(Target {
                store,
                key,
                folder,
                display,
            })
        }
        Location::Local {
            path,
            trailing_slash,
        } => {
            let is_dir = path.is_dir();
            if many && path.exists() && !is_dir {
                bail!("{display}: is a file, but copying several objects needs a folder target");
            }
            let folder = many || *trailing_slash || is_dir;
            if let Some(file) = location::file_in_the_way(path, folder) {
                bail!(
                    "{display}: {} is a file, not a folder; nothing was copied",
                    file.display()
                );
            }
            let (store, key) = ctx.stores.open(loc, folder).await?;
            Ok(Target {
                store,
                key,
                folder,
                display,
            })
        }
    }
}

async fn resolve_source(ctx: &mut Ctx, arg: &str, recursive: bool) -> anyhow::Result<Source> {
    let loc = ctx.location(arg)?;
    let display = loc.display();
    match &loc {
        Location::Remote { bucket, key, .. } => {
            let Some(bucket) = bucket else {
                bail!("{display}: name a bucket to copy from (ALIAS/BUCKET[/PREFIX])");
            };
            let (store, key_in) = ctx.stores.open(&loc, true).await?;
            let name = key
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .unwrap_or(bucket);
            let base = (!loc.trailing_slash()).then(|| name.to_owned());
            Ok(cp::resolve_source(store, &key_in, &display, base, recursive).await?)
        }
        Location::Local {
            path,
            trailing_slash,
        } => {
            let md = match std::fs::metadata(path) {
                Ok(md) => md,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if let Some(head) = location::missing_alias_like_head(arg) {
                        bail!(
                            "{arg}: no such file or folder, and {head:?} is not an alias (see `ferry alias ls`)"
                        );
                    }
                    return Err(CpError::NotFound(display).into());
                }
                Err(e) => return Err(anyhow::Error::new(e).context(display)),
            };
            if md.is_dir() {
                if !recursive {
                    return Err(CpError::IsFolder(display).into());
                }
                let (store, _) = ctx.stores.open(&loc, true).await?;
                let name = std::fs::canonicalize(path)
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
                let literal_dot = path.file_name().is_none() || path.ends_with(".");
                let base = if *trailing_slash || literal_dot {
                    None
                } else {
                    name
                };
                Ok(cp::resolve_source(store, "", &display, base, true).await?)
            } else {
                let (store, key) = ctx.stores.open(&loc, false).await?;
                Ok(cp::resolve_source(store, &key, &display, None, recursive).await?)
            }
        }
    }
}

async fn report(
    ctx: &Ctx,
    mut reports: futures::stream::BoxStream<'static, cp::CopyReport>,
    dry_run: bool,
) -> anyhow::Result<Status> {
    let started = Instant::now();
    let bar = (!ctx.quiet && !ctx.json && std::io::stderr().is_terminal()).then(|| {
        let pb = ProgressBar::new_spinner();
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        Arc::new(pb)
    });
    let per_object_lines = !ctx.quiet && !ctx.json && bar.is_none();
    let (mut done, mut bytes, mut failed, mut server_side) = (0u64, 0u64, 0u64, 0u64);
    while let Some(cp::CopyReport {
        source,
        target,
        size,
        result,
    }) = reports.next().await
    {
        match result {
            Ok(method) => {
                done += 1;
                bytes += size;
                if matches!(
                    method,
                    Some(ferry_engine::sync::transfer::Method::ServerSide)
                ) {
                    server_side += 1;
                }
                if ctx.json {
                    output::json(&json!({
                        "status": "success", "source": source, "target": target, "size": size,
                        "method": method.map_or("dry-run", |m| m.as_str()),
                    }))?;
                } else if per_object_lines || dry_run && !ctx.quiet {
                    let line = format!("`{source}` -> `{target}`");
                    match &bar {
                        Some(pb) => pb.suspend(|| output::line(&line))?,
                        None => output::line(&line)?,
                    }
                }
            }
            Err(e) => {
                failed += 1;
                let err = anyhow::Error::from(e);
                if ctx.json {
                    output::json_error(json!({ "source": source, "target": target }), &err)?;
                } else {
                    let print = || output::print_error(&err, false);
                    match &bar {
                        Some(pb) => pb.suspend(print),
                        None => print(),
                    }
                }
            }
        }
        if let Some(pb) = &bar {
            pb.set_message(format!(
                "{}, {}",
                output::count(done, "object"),
                output::human_size(bytes)
            ));
        }
    }
    if let Some(pb) = &bar {
        pb.finish_and_clear();
    }
    let secs = started.elapsed().as_secs_f64();
    if !ctx.quiet && !ctx.json {
        let rate = if secs > 0.0 {
            (bytes as f64 / secs) as u64
        } else {
            0
        };
        let verb = if dry_run { "Would copy" } else { "Copied" };
        let mut line = format!(
            "{verb} {} ({}) in {secs:.1}s, {}/s",
            output::count(done, "object"),
            output::human_size(bytes),
            output::human_size(rate)
        );
        if server_side > 0 {
            line.push_str(&format!(", {server_side} server-side"));
        }
        if failed > 0 {
            line.push_str(&format!("; {failed} failed"));
        }
        eprintln!("{line}");
    }
    Ok(if failed > 0 {
        Status::Failed
    } else {
        Status::Ok
    })
}

//! `ferry job add`: a ferryd job written into its config file, from folders, aliases, or the
//! backup.yaml of each site's milvus-backup.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use ferry_engine::alias::{self, AliasEntry, ConfigDir};
use ferry_engine::config::edit::{self, NewJob, NewRestore, NewTrigger};
use ferry_engine::milvus::backup_yaml::{self, BackupYaml, Place, Side};
use serde_json::json;

use crate::args::{JobAddArgs, JobCmd};
use crate::{Ctx, Status, output};

pub async fn run(ctx: &Ctx, cmd: JobCmd) -> anyhow::Result<Status> {
    match cmd {
        JobCmd::Add(a) => add(ctx, a).await,
    }
}

/// One end of the job, resolved.
struct End {
    /// As written in the job.
    location: String,
    /// The alias to save for it, from a backup.yaml.
    alias: Option<(String, AliasEntry)>,
    /// The backup.yaml it came from (absolute).
    yaml: Option<PathBuf>,
}

/// Whether `arg` names a milvus-backup config file rather than a folder or an alias path.
fn is_backup_yaml(arg: &str) -> bool {
    let p = Path::new(arg);
    if !p.is_file() {
        return false;
    }
    let named = p
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    named || std::fs::read_to_string(p).is_ok_and(|t| backup_yaml::looks_like_backup_yaml(&t))
}

fn end(arg: &str, alias_name: &str, flag: &str) -> anyhow::Result<End> {
    if !is_backup_yaml(arg) {
        return Ok(End {
            location: arg.to_owned(),
            alias: None,
            yaml: None,
        });
    }
    let abs = std::path::absolute(arg).with_context(|| format!("cannot resolve {arg}"))?;
    let yaml = BackupYaml::load(&abs)?;
    let place = yaml.place(Side::Backup)?;
    let location = place.location(alias_name);
    let alias = match place {
        Place::Local { .. } => None,
        Place::S3 { entry, .. } => {
            alias::validate_name(alias_name)
                .with_context(|| format!("{arg}: its alias needs a name: give {flag} NAME"))?;
            entry.validate(alias_name)?;
            Some((alias_name.to_owned(), *entry))
        }
    };
    Ok(End {
        location,
        alias,
        yaml: Some(abs),
    })
}

fn same(a: &AliasEntry, b: &AliasEntry) -> bool {
    serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
}

async fn add(ctx: &Ctx, a: JobAddArgs) -> anyhow::Result<Status> {
    if a.restore_url.is_none()
        && !a.restore
        && (a.suffix.is_some() || !a.restore_backups.is_empty())
    {
        bail!("--suffix and --restore-backup set up restores: add --restore or --restore-url URL");
    }
    let source_alias = a
        .source_alias
        .clone()
        .unwrap_or_else(|| format!("{}-source", a.name.replace('.', "-")));
    let target_alias = a
        .target_alias
        .clone()
        .unwrap_or_else(|| format!("{}-target", a.name.replace('.', "-")));
    if source_alias == target_alias {
        bail!("--source-alias and --target-alias are both {source_alias:?}: give two names");
    }
    let source = end(&a.source, &source_alias, "--source-alias")?;
    let target = end(&a.target, &target_alias, "--target-alias")?;

    let trigger = match (&a.restore_url, a.restore) {
        (Some(url), _) => Some(NewTrigger::Rest(url.clone())),
        (None, true) => {
            let Some(yaml) = &target.yaml else {
                bail!(
                    "--restore runs `{} --config <the target site's backup.yaml> restore`: give TARGET as that backup.yaml (or restore through its REST server with --restore-url URL)",
                    a.milvus_backup
                );
            };
            Some(NewTrigger::Exec(vec![
                a.milvus_backup.clone(),
                "--config".into(),
                yaml.display().to_string(),
                "restore".into(),
                "-n".into(),
                "{backup}".into(),
                "-s".into(),
                "{suffix}".into(),
            ]))
        }
        (None, false) => None,
    };
    let mut comments = vec![format!("added by `ferry job add {}`", a.name)];
    for (which, e) in [("source", &source), ("target", &target)] {
        if let Some(y) = &e.yaml {
            comments.push(format!("{which}: the backup storage of {}", y.display()));
        }
    }
    let job = NewJob {
        name: a.name.clone(),
        source: source.location.clone(),
        target: target.location.clone(),
        plain: a.plain,
        interval: a.interval.clone(),
        restore: trigger.map(|trigger| NewRestore {
            trigger,
            backups: a.restore_backups.clone(),
            suffix: a.suffix.clone(),
        }),
        comments,
    };

    // A new file reads aliases from this ferry's own alias folder (written into it); an
    // existing one from its alias_dir.
    let config_path = std::path::absolute(&a.config)
        .with_context(|| format!("cannot resolve {}", a.config.display()))?;
    let own_dir =
        std::path::absolute(ctx.config.dir()).unwrap_or_else(|_| ctx.config.dir().to_owned());
    let extra: BTreeMap<String, AliasEntry> = [&source.alias, &target.alias]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let change = edit::add_job(&config_path, &job, &own_dir, &extra)?;
    let aliases_dir = ConfigDir::new(&change.config.alias_dir);
    let inline = std::fs::read_to_string(&config_path)
        .map(|t| edit::inline_aliases(&t))
        .unwrap_or_default();
    let stored = aliases_dir.load()?;
    for (name, entry) in &extra {
        let flag = if *name == source_alias {
            "--source-alias"
        } else {
            "--target-alias"
        };
        if inline.contains(name) {
            bail!(
                "{} defines alias {name:?} itself: give {flag} with another name",
                config_path.display()
            );
        }
        if let Some(old) = stored.aliases.get(name)
            && !same(old, entry)
        {
            bail!(
                "alias {name:?} already exists in {} with other settings: give {flag} with another name, or remove it (`ferry alias rm {name}`)",
                aliases_dir.file().display()
            );
        }
    }
    if !a.no_check {
        let added = change
            .job(&a.name)
            .context("the added job is missing from the file")?;
        let problems = ferry_engine::config::connect::check_job(added).await;
        if !problems.is_empty() {
            let lines: Vec<String> = problems
                .iter()
                .map(|p| format!("  {}: {}", p.key, p.message))
                .collect();
            bail!(
                "job {:?} not added, nothing was written:\n{}\n(--no-check writes it anyway)",
                a.name,
                lines.join("\n")
            );
        }
    }
    let saved: Vec<&str> = extra.keys().map(String::as_str).collect();
    if !a.dry_run {
        if !extra.is_empty() {
            let mut file = aliases_dir.load()?;
            file.aliases.extend(extra.clone());
            aliases_dir.save(&file)?;
        }
        change.write()?;
    }

    if ctx.json {
        output::json(&json!({
            "status": "success", "job": a.name, "config": config_path.display().to_string(),
            "created": !change.existed, "aliases": saved,
            "aliasFile": aliases_dir.file().display().to_string(),
            "added": change.added, "dryRun": a.dry_run,
        }))?;
    } else if !ctx.quiet {
        let verb = if a.dry_run { "Would add" } else { "Added" };
        output::line(&format!(
            "{verb} job {:?} to {}{}:",
            a.name,
            config_path.display(),
            if change.existed { "" } else { " (a new file)" }
        ))?;
        output::line("")?;
        for l in change.added.lines() {
            output::line(&format!("  {l}"))?;
        }
        output::line("")?;
        if !saved.is_empty() {
            output::line(&format!(
                "{} {} in {}.",
                if a.dry_run {
                    "Would save alias"
                } else {
                    "Saved alias"
                },
                saved.join(", "),
                aliases_dir.file().display()
            ))?;
        }
        if !a.dry_run {
            output::line(
                "Reload ferryd to start it: `systemctl reload ferryd`, or `kill -HUP <ferryd's pid>`.",
            )?;
        }
    }
    Ok(Status::Ok)
}

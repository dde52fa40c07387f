//! `ferry alias set|ls|rm|import|export`.

use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::PermissionsExt;

use anyhow::{Context, bail};
use ferry_engine::alias::{self, AliasEntry, AliasError};
use ferry_engine::milvus::backup_yaml::{self, BackupYaml, Place, Side};
use serde_json::json;

use crate::args::{AliasCmd, AliasSetArgs, PathStyle, YamlSide};
use crate::{Ctx, Status, output};

pub async fn run(ctx: &Ctx, cmd: AliasCmd) -> anyhow::Result<Status> {
    match cmd {
        AliasCmd::Set(a) => set(ctx, a).await,
        AliasCmd::Ls { name } => ls(ctx, name.as_deref()),
        AliasCmd::Rm { name } => rm(ctx, &name),
        AliasCmd::Import {
            name,
            file,
            side,
            no_check,
        } => import(ctx, &name, &file, side, no_check).await,
        AliasCmd::Export { name, file } => export(ctx, &name, &file),
    }
}

fn done(ctx: &Ctx, verb: &str, name: &str) -> anyhow::Result<Status> {
    if ctx.json {
        output::json(&json!({"status": "success", "alias": name, "op": verb.to_lowercase()}))?;
    } else if !ctx.quiet {
        output::line(&format!("{verb} `{name}` successfully."))?;
    }
    Ok(Status::Ok)
}

async fn set(ctx: &Ctx, a: AliasSetArgs) -> anyhow::Result<Status> {
    alias::validate_name(&a.name)?;
    // An Azure alias may name its account alone: its key then comes from the environment
    // (AZURE_STORAGE_KEY, AZURE_STORAGE_CONNECTION_STRING) or it reads anonymously.
    let azure = a.api.eq_ignore_ascii_case("azure") || AliasEntry::new(&a.url, "", "").is_azure();
    let secret = match (a.access_key.as_deref(), a.secret_key.as_deref()) {
        (Some(_), None) if !azure => bail!(
            "alias {:?}: an access key needs its secret key (give SECRET, or - to read it from standard input)",
            a.name
        ),
        (_, Some("-")) => read_secret_from_stdin()?,
        (_, s) => s.unwrap_or_default().to_owned(),
    };
    let mut entry = AliasEntry::new(&a.url, a.access_key.as_deref().unwrap_or(""), &secret);
    entry.api = a.api;
    entry.path = match a.path {
        PathStyle::Auto => "auto",
        PathStyle::On => "on",
        PathStyle::Off => "off",
    }
    .to_owned();
    entry.region = a.region;
    entry.ca_cert = match a.ca_cert {
        Some(p) => {
            let abs =
                std::path::absolute(&p).with_context(|| format!("--ca-cert {}", p.display()))?;
            std::fs::metadata(&abs).with_context(|| format!("--ca-cert {}", abs.display()))?;
            Some(abs.display().to_string())
        }
        None => None,
    };
    entry.list_v1 = a.list_v1.then_some(true);
    entry.validate(&a.name)?;
    if !a.no_check {
        check(ctx, &a.name, &entry).await?;
    }
    let mut file = ctx.config.load()?;
    file.aliases.insert(a.name.clone(), entry);
    ctx.config.save(&file)?;
    done(ctx, "Added", &a.name)
}

/// Asks the endpoint for its bucket list with these settings, as `mc alias set` does: a wrong
/// URL, an unreachable server or credentials it refuses are errors, and nothing is saved. A
/// refusal to list buckets (keys limited to some buckets) is not: the signature was accepted.
pub(crate) async fn check(ctx: &Ctx, name: &str, entry: &AliasEntry) -> anyhow::Result<()> {
    use ferry_engine::backend::Error;
    let endpoint = ferry_engine::location::Endpoint::connect(name, entry)
        .await
        .with_context(|| format!("alias {name:?}: nothing was saved"))?;
    match endpoint.list_buckets().await {
        Ok(_) => Ok(()),
        Err(Error::PermissionDenied { .. }) => {
            if !ctx.quiet && !ctx.json {
                eprintln!(
                    "ferry: alias {name:?}: the server accepted the credentials but refused to list buckets; saved (name a bucket in commands)"
                );
            }
            Ok(())
        }
        Err(e) => Err(anyhow::Error::from(e).context(format!(
            "alias {name:?} not saved: {} did not accept these settings (use --no-check to save it anyway)",
            entry.url
        ))),
    }
}

fn read_secret_from_stdin() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading the secret key from standard input")?;
    let s = s.trim_end_matches(['\n', '\r']).to_owned();
    if s.is_empty() {
        bail!("no secret key on standard input");
    }
    Ok(s)
}

fn ls(ctx: &Ctx, only: Option<&str>) -> anyhow::Result<Status> {
    let file = ctx.config.load()?;
    if let Some(name) = only
        && !file.aliases.contains_key(name)
        && alias::from_env(name)?.is_none()
    {
        return Err(AliasError::NotFound {
            name: name.to_owned(),
        }
        .into());
    }
    let mut entries: Vec<(String, AliasEntry, &str)> = Vec::new();
    for (name, entry) in &file.aliases {
        if only.is_none_or(|o| o == name) {
            let shown = match alias::from_env(name)? {
                Some(env_entry) => (name.clone(), env_entry, "env"),
                None => (name.clone(), entry.clone(), "config"),
            };
            entries.push(shown);
        }
    }
    if let Some(name) = only
        && !file.aliases.contains_key(name)
        && let Some(env_entry) = alias::from_env(name)?
    {
        entries.push((name.to_owned(), env_entry, "env"));
    }
    for (name, e, src) in entries {
        let secret = if e.secret_key.is_empty() {
            String::new()
        } else {
            "*".repeat(8)
        };
        if ctx.json {
            output::json(&json!({
                "status": "success", "alias": name, "URL": e.url, "accessKey": e.masked_access_key(),
                "secretKey": secret, "api": e.api, "path": e.path, "region": e.region, "source": src,
            }))?;
        } else {
            output::line(&name)?;
            output::line(&format!("  URL       : {}", e.url))?;
            let ak = if e.access_key.is_empty() {
                "(AWS default chain)".to_owned()
            } else {
                e.masked_access_key()
            };
            output::line(&format!("  AccessKey : {ak}"))?;
            output::line(&format!("  SecretKey : {secret}"))?;
            output::line(&format!("  API       : {}", e.api.to_lowercase()))?;
            output::line(&format!("  Path      : {}", e.path))?;
            if let Some(r) = &e.region {
                output::line(&format!("  Region    : {r}"))?;
            }
            if src == "env" {
                output::line("  Source    : environment")?;
            }
            output::line("")?;
        }
    }
    Ok(Status::Ok)
}

fn rm(ctx: &Ctx, name: &str) -> anyhow::Result<Status> {
    let mut file = ctx.config.load()?;
    if file.aliases.remove(name).is_none() {
        return Err(AliasError::NotFound {
            name: name.to_owned(),
        }
        .into());
    }
    ctx.config.save(&file)?;
    done(ctx, "Removed", name)
}

async fn import(
    ctx: &Ctx,
    name: &str,
    source: &str,
    side: Option<YamlSide>,
    no_check: bool,
) -> anyhow::Result<Status> {
    alias::validate_name(name)?;
    let bytes = if source == "-" {
        let mut b = Vec::new();
        std::io::stdin()
            .read_to_end(&mut b)
            .context("reading standard input")?;
        b
    } else {
        std::fs::read(source).with_context(|| format!("cannot read {source}"))?
    };
    let shown = if source == "-" {
        "standard input"
    } else {
        source
    };
    if let Ok(text) = std::str::from_utf8(&bytes)
        && (side.is_some()
            || (!text.trim_start().starts_with('{') && backup_yaml::looks_like_backup_yaml(text)))
    {
        return import_backup_yaml(ctx, name, shown, text, side, no_check).await;
    }
    let entry = alias::parse_import(name, shown, &bytes)?;
    let mut file = ctx.config.load()?;
    file.aliases.insert(name.to_owned(), entry);
    ctx.config.save(&file)?;
    done(ctx, "Imported", name)
}

/// One storage of milvus-backup's backup.yaml as an alias, checked like `alias set`.
async fn import_backup_yaml(
    ctx: &Ctx,
    name: &str,
    shown: &str,
    text: &str,
    side: Option<YamlSide>,
    no_check: bool,
) -> anyhow::Result<Status> {
    let side = match side.unwrap_or(YamlSide::Backup) {
        YamlSide::Backup => Side::Backup,
        YamlSide::Milvus => Side::Milvus,
    };
    let yaml = BackupYaml::parse(std::path::Path::new(shown), text, &|k| {
        std::env::var(k).ok().filter(|v| !v.is_empty())
    })?;
    let place = yaml.place(side)?;
    let location = place.location(name);
    let entry = match place {
        Place::Local { path } => bail!(
            "{shown}: the {side} is the local folder {}: use it as it is (`ferry backups ls {location}`), no alias is needed",
            path.display()
        ),
        Place::S3 { entry, .. } => *entry,
    };
    entry.validate(name)?;
    if !no_check {
        check(ctx, name, &entry).await?;
    }
    let mut file = ctx.config.load()?;
    file.aliases.insert(name.to_owned(), entry.clone());
    ctx.config.save(&file)?;
    let from_env = &yaml.side(side).from_env;
    if ctx.json {
        output::json(&json!({
            "status": "success", "alias": name, "op": "imported", "from": shown,
            "side": side.to_string(), "URL": entry.url, "location": location,
            "credentialsFrom": from_env,
        }))?;
    } else if !ctx.quiet {
        output::line(&format!(
            "Imported `{name}` from {shown} ({}, {}): its backups are in {location}",
            side, entry.url
        ))?;
        if !from_env.is_empty() {
            output::line(&format!("  credentials from ${}", from_env.join(", $")))?;
        }
    }
    Ok(Status::Ok)
}

fn export(ctx: &Ctx, name: &str, dest: &str) -> anyhow::Result<Status> {
    let Some(entry) = ctx.config.resolve(name)? else {
        return Err(AliasError::NotFound {
            name: name.to_owned(),
        }
        .into());
    };
    let mut body = serde_json::to_string_pretty(&entry)?;
    body.push('\n');
    if dest == "-" {
        if std::io::stdout().is_terminal() {
            bail!(
                "refusing to print the credentials of alias {name:?} to a terminal: give a FILE, or pipe the output"
            );
        }
        std::io::stdout().write_all(body.as_bytes())?;
    } else {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dest)
            .with_context(|| format!("cannot create {dest}"))?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(body.as_bytes())
            .with_context(|| format!("cannot write {dest}"))?;
        f.sync_all()?;
        if !ctx.quiet && !ctx.json {
            eprintln!("Exported `{name}` to {dest} (mode 0600).");
        }
    }
    Ok(Status::Ok)
}

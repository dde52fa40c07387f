//! Aliases: named S3 endpoints with credentials, stored like MinIO's `mc`.
//!
//! The file is `<config dir>/config.json` (default `~/.ferry`, overridden by `--config-dir` or
//! `FERRY_CONFIG_DIR`) in the same JSON shape as mc's `config.json` version 10, so an mc file
//! can be imported as is:
//!
//! ```json
//! { "version": "10",
//!   "aliases": { "prod": { "url": "https://s3.example.com", "accessKey": "AK", "secretKey": "SK",
//!                          "api": "S3v4", "path": "auto" } } }
//! ```
//!
//! ferry adds optional per-alias keys mc does not know (`region`, `caCert`, `listV1`,
//! `checksums`) and keeps unknown keys it reads, so a round trip loses nothing. The file is
//! written atomically (temp file, fsync, rename) with mode 0600 in a 0700 folder.
//!
//! `FERRY_HOST_<alias>` and then `MC_HOST_<alias>` (`https://KEY:SECRET[:TOKEN]@host`) override
//! the file.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backend::s3::{ChecksumMode, S3Config, S3Credentials};

/// What can go wrong with aliases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AliasError {
    /// The config file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid JSON of the expected shape.
    #[error("{} is not a valid alias file", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The config file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file holds secrets but others may read it.
    #[error(
        "{} holds alias secrets but others may read it (mode {mode:o}); run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    Exposed { path: PathBuf, mode: u32 },
    /// The file's version is not one ferry reads.
    #[error("{}: unsupported config version {version:?} (expected \"10\")", path.display())]
    Version { path: PathBuf, version: String },
    /// An alias name mc would refuse.
    #[error(
        "invalid alias name {name:?}: use letters, digits, '-' and '_', starting with a letter"
    )]
    InvalidName { name: String },
    /// A URL that is not `http(s)://host[:port]`.
    #[error("invalid URL {url:?} for alias {alias:?}: {reason}")]
    InvalidUrl {
        alias: String,
        url: String,
        reason: String,
    },
    /// An Azure connection string that cannot be used.
    #[error("{}: not a usable Azure connection string: {reason}", path.display())]
    InvalidConnectionString { path: PathBuf, reason: String },
    /// An invalid setting value.
    #[error("invalid {key} {value:?} for alias {alias:?}: {reason}")]
    InvalidValue {
        alias: String,
        key: &'static str,
        value: String,
        reason: &'static str,
    },
    /// No such alias.
    #[error("alias {name:?} does not exist (see `ferry alias ls`)")]
    NotFound { name: String },
    /// An environment override that does not parse.
    #[error("environment variable {var} is not of the form https://KEY:SECRET[:TOKEN]@host")]
    BadEnv { var: String },
}

/// One alias, in mc's v10 shape plus ferry's optional keys.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AliasEntry {
    /// Endpoint URL.
    pub url: String,
    /// Access key id; empty means "use the AWS default credential chain".
    #[serde(default)]
    pub access_key: String,
    /// Secret key. Never printed.
    #[serde(default)]
    pub secret_key: String,
    /// Session token. Never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// Signature version; ferry speaks `S3v4`.
    #[serde(default = "default_api")]
    pub api: String,
    /// Addressing: `auto`, `on` (path-style) or `off` (virtual-host). mc also writes `dns`/`path`.
    #[serde(default = "default_path")]
    pub path: String,
    /// ferry: signing region (derived from the host when absent, else `us-east-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// ferry: extra CA certificate (PEM file) to trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<String>,
    /// ferry: list with ListObjects v1 (old Ceph / COS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list_v1: Option<bool>,
    /// ferry: SDK checksums, `required` (default off AWS) or `supported` (AWS default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksums: Option<String>,
    /// Keys ferry does not know (mc's `license`, `apiKey`...), kept as read.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Host suffixes of Azure's blob service: the public cloud, China, US Government.
const AZURE_BLOB_HOSTS: &[&str] = &[
    ".blob.core.windows.net",
    ".blob.core.chinacloudapi.cn",
    ".blob.core.usgovcloudapi.net",
];

fn default_api() -> String {
    "S3v4".to_owned()
}
fn default_path() -> String {
    "auto".to_owned()
}

impl fmt::Debug for AliasEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AliasEntry")
            .field("url", &self.url)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("api", &self.api)
            .field("path", &self.path)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl AliasEntry {
    /// A new entry with mc's defaults.
    pub fn new(url: &str, access_key: &str, secret_key: &str) -> Self {
        AliasEntry {
            url: url.trim_end_matches('/').to_owned(),
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            session_token: None,
            api: default_api(),
            path: default_path(),
            region: None,
            ca_cert: None,
            list_v1: None,
            checksums: None,
            extra: BTreeMap::new(),
        }
    }

    /// Checks the URL and settings.
    pub fn validate(&self, alias: &str) -> Result<(), AliasError> {
        if self.is_azure() {
            return self.azure_config(alias).map(|_| ());
        }
        validate_url(alias, &self.url)?;
        if !matches!(self.path.as_str(), "auto" | "on" | "off" | "dns" | "path") {
            return Err(AliasError::InvalidValue {
                alias: alias.to_owned(),
                key: "path",
                value: self.path.clone(),
                reason: "expected auto, on or off",
            });
        }
        if !self.api.eq_ignore_ascii_case("s3v4") && !self.api.eq_ignore_ascii_case("s3v2") {
            return Err(AliasError::InvalidValue {
                alias: alias.to_owned(),
                key: "api",
                value: self.api.clone(),
                reason: "expected S3v4",
            });
        }
        if let Some(c) = &self.checksums
            && !matches!(c.as_str(), "required" | "supported")
        {
            return Err(AliasError::InvalidValue {
                alias: alias.to_owned(),
                key: "checksums",
                value: c.clone(),
                reason: "expected required or supported",
            });
        }
        if self.access_key.is_empty() != self.secret_key.is_empty() {
            return Err(AliasError::InvalidValue {
                alias: alias.to_owned(),
                key: "credentials",
                value: String::new(),
                reason: "give both an access key and a secret key, or neither (default AWS chain)",
            });
        }
        Ok(())
    }

    /// Whether this alias is an Azure Blob account: `api = "azure"`, or a URL on one of Azure's
    /// blob hosts (public and sovereign clouds).
    pub fn is_azure(&self) -> bool {
        if self.api.eq_ignore_ascii_case("azure") {
            return true;
        }
        let host = url::Url::parse(&self.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default();
        AZURE_BLOB_HOSTS.iter().any(|suffix| host.ends_with(suffix))
    }

    /// The Azure settings this alias stands for: the account is the access key (else the
    /// host's first label, or the first path segment of an emulator's path-style URL); the
    /// secret is the account key, or a SAS token (`sv=...&sig=...`, with or without `?`).
    pub fn azure_config(
        &self,
        alias: &str,
    ) -> Result<crate::backend::azure::AzureConfig, AliasError> {
        use crate::backend::azure::{AzureConfig, AzureCredentials};
        let bad = |key: &'static str, value: &str, reason: &'static str| AliasError::InvalidValue {
            alias: alias.to_owned(),
            key,
            value: value.to_owned(),
            reason,
        };
        let endpoint = url::Url::parse(&self.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
            .filter(|u| u.query().is_none() && u.fragment().is_none())
            .ok_or_else(|| {
                bad(
                    "url",
                    &self.url,
                    "expected https://ACCOUNT.blob.core.windows.net, or an emulator's http://HOST:PORT/ACCOUNT (a SAS goes in the secret, not the URL)",
                )
            })?;
        let host = endpoint.host_str().unwrap_or_default().to_ascii_lowercase();
        let on_azure_host = AZURE_BLOB_HOSTS.iter().any(|s| host.ends_with(s));
        let account = if !self.access_key.is_empty() {
            self.access_key.clone()
        } else if on_azure_host {
            host.split('.').next().unwrap_or_default().to_owned()
        } else {
            endpoint
                .path_segments()
                .and_then(|mut s| s.next().map(str::to_owned))
                .unwrap_or_default()
        };
        if account.is_empty() {
            return Err(bad(
                "accessKey",
                "",
                "name the storage account (as the access key, or in the URL)",
            ));
        }
        // An empty secret is looked up in the environment, as Azure's own tools do.
        let from_env = if self.secret_key.trim().is_empty() {
            crate::backend::azure::connstr::secret_from_env(&account, &|k| {
                std::env::var(k).ok().filter(|v| !v.is_empty())
            })
            .map(|(s, _)| s)
        } else {
            None
        };
        let secret = from_env.as_deref().unwrap_or(self.secret_key.trim());
        let credentials = if secret.is_empty() {
            AzureCredentials::Anonymous
        } else if secret.contains("sig=") {
            AzureCredentials::Sas(secret.trim_start_matches('?').to_owned())
        } else {
            AzureCredentials::SharedKey(secret.to_owned())
        };
        Ok(AzureConfig {
            label: alias.to_owned(),
            endpoint,
            account,
            credentials,
            ca_cert: self.ca_cert.as_ref().map(PathBuf::from),
        })
    }

    /// The S3 client settings this alias stands for.
    pub fn s3_config(&self, alias: &str) -> S3Config {
        let credentials = if self.access_key.is_empty() {
            S3Credentials::DefaultChain
        } else {
            S3Credentials::Static {
                access_key: self.access_key.clone(),
                secret_key: self.secret_key.clone(),
                session_token: self.session_token.clone().filter(|t| !t.is_empty()),
            }
        };
        let mut cfg = S3Config::for_endpoint(alias, &self.url, credentials);
        match self.path.as_str() {
            "on" | "path" => cfg.path_style = true,
            "off" | "dns" => cfg.path_style = false,
            _ => {}
        }
        if let Some(r) = &self.region {
            cfg.region = r.clone();
        }
        cfg.ca_cert = self.ca_cert.as_ref().map(PathBuf::from);
        cfg.list_v1 = self.list_v1.unwrap_or(false);
        match self.checksums.as_deref() {
            Some("required") => cfg.checksums = ChecksumMode::WhenRequired,
            Some("supported") => cfg.checksums = ChecksumMode::WhenSupported,
            _ => {}
        }
        cfg
    }

    /// The access key with all but its first 4 characters masked (mc shows it in full; we
    /// show enough to recognise it).
    pub fn masked_access_key(&self) -> String {
        mask(&self.access_key, 4)
    }
}

/// Masks a secret, keeping `keep` leading characters.
pub fn mask(s: &str, keep: usize) -> String {
    if s.is_empty() {
        return String::new();
    }
    let n = s.chars().count();
    let kept: String = s.chars().take(keep.min(n / 2)).collect();
    format!(
        "{kept}{}",
        "*".repeat(n.saturating_sub(kept.chars().count()).max(4))
    )
}

/// Checks an alias name (mc's rule).
pub fn validate_name(name: &str) -> Result<(), AliasError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(AliasError::InvalidName {
            name: name.to_owned(),
        })
    }
}

fn validate_url(alias: &str, raw: &str) -> Result<(), AliasError> {
    let bad = |reason: &str| AliasError::InvalidUrl {
        alias: alias.to_owned(),
        url: raw.to_owned(),
        reason: reason.to_owned(),
    };
    let url = url::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("put credentials in ACCESS and SECRET, not in the URL"));
    }
    if url.path() != "/" && !url.path().is_empty() || url.query().is_some() {
        return Err(bad("an endpoint URL has no path or query"));
    }
    Ok(())
}

/// The whole alias file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AliasFile {
    /// Always `"10"`.
    pub version: String,
    /// Aliases by name.
    #[serde(default)]
    pub aliases: BTreeMap<String, AliasEntry>,
    /// Other top-level keys, kept.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Default for AliasFile {
    fn default() -> Self {
        AliasFile {
            version: "10".to_owned(),
            aliases: BTreeMap::new(),
            extra: BTreeMap::new(),
        }
    }
}

/// The config folder.
#[derive(Debug, Clone)]
pub struct ConfigDir {
    dir: PathBuf,
}

impl ConfigDir {
    /// A config folder at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ConfigDir { dir: dir.into() }
    }

    /// `$FERRY_CONFIG_DIR`, else `~/.ferry`.
    pub fn default_location() -> PathBuf {
        if let Some(d) = std::env::var_os("FERRY_CONFIG_DIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(d);
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        home.join(".ferry")
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/config.json`.
    pub fn file(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    /// Reads the alias file; a missing file is an empty one.
    pub fn load(&self) -> Result<AliasFile, AliasError> {
        let path = self.file();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file = parse_file(&path, &bytes)?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = std::fs::metadata(&path)
                        .map(|m| m.permissions().mode() & 0o777)
                        .unwrap_or(0o600);
                    let secrets = file.aliases.values().any(|a| !a.secret_key.is_empty());
                    if secrets && mode & 0o077 != 0 {
                        return Err(AliasError::Exposed { path, mode });
                    }
                }
                Ok(file)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AliasFile::default()),
            Err(source) => Err(AliasError::Read { path, source }),
        }
    }

    /// Writes the alias file atomically with mode 0600.
    pub fn save(&self, file: &AliasFile) -> Result<(), AliasError> {
        let path = self.file();
        let werr = |source| AliasError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(werr)?;
        let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700));
        let json = serde_json::to_vec_pretty(file).map_err(|e| werr(std::io::Error::other(e)))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".config.json.")
            .permissions(std::fs::Permissions::from_mode(0o600))
            .tempfile_in(&self.dir)
            .map_err(werr)?;
        tmp.write_all(&json)
            .and_then(|()| tmp.write_all(b"\n"))
            .map_err(werr)?;
        tmp.as_file().sync_all().map_err(werr)?;
        tmp.persist(&path).map_err(|e| werr(e.error))?;
        std::fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(werr)?;
        Ok(())
    }

    /// Looks an alias up: environment first (`FERRY_HOST_x`, `MC_HOST_x`), then the file.
    pub fn resolve(&self, name: &str) -> Result<Option<AliasEntry>, AliasError> {
        if let Some(entry) = from_env(name)? {
            return Ok(Some(entry));
        }
        Ok(self.load()?.aliases.get(name).cloned())
    }
}

/// Parses an alias file's bytes.
pub fn parse_file(path: &Path, bytes: &[u8]) -> Result<AliasFile, AliasError> {
    let file: AliasFile = serde_json::from_slice(bytes).map_err(|source| AliasError::Parse {
        path: path.to_owned(),
        source,
    })?;
    if file.version != "10" {
        return Err(AliasError::Version {
            path: path.to_owned(),
            version: file.version,
        });
    }
    Ok(file)
}

/// The alias from `FERRY_HOST_<name>` or `MC_HOST_<name>`, if set.
pub fn from_env(name: &str) -> Result<Option<AliasEntry>, AliasError> {
    for var in [format!("FERRY_HOST_{name}"), format!("MC_HOST_{name}")] {
        if let Ok(value) = std::env::var(&var) {
            return parse_host_env(&value)
                .map(Some)
                .ok_or(AliasError::BadEnv { var });
        }
    }
    Ok(None)
}

/// Parses `https://KEY:SECRET[:TOKEN]@host[:port]`.
pub fn parse_host_env(value: &str) -> Option<AliasEntry> {
    let url = url::Url::parse(value).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    let access_key = decode(url.username())?;
    let rest = decode(url.password().unwrap_or(""))?;
    let (secret_key, token) = match rest.split_once(':') {
        Some((s, t)) => (s.to_owned(), Some(t.to_owned())),
        None => (rest, None),
    };
    let host = url.host_str()?;
    let endpoint = match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    };
    let mut entry = AliasEntry::new(&endpoint, &access_key, &secret_key);
    entry.session_token = token;
    Some(entry)
}

/// Reads what `alias import` accepts: a single alias object (`alias export`'s output, mc's
/// too), or a whole mc/ferry `config.json` holding `name`.
pub fn parse_import(name: &str, source: &str, bytes: &[u8]) -> Result<AliasEntry, AliasError> {
    // An Azure connection string (the portal's, or `AZURE_STORAGE_CONNECTION_STRING`'s).
    if let Ok(text) = std::str::from_utf8(bytes)
        && crate::backend::azure::connstr::is_connection_string(text)
    {
        let c = crate::backend::azure::connstr::parse(text).map_err(|reason| {
            AliasError::InvalidConnectionString {
                path: PathBuf::from(source),
                reason,
            }
        })?;
        let mut entry = AliasEntry::new(&c.endpoint, &c.account, &c.secret);
        entry.api = "azure".to_owned();
        entry.validate(name)?;
        return Ok(entry);
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| AliasError::Parse {
            path: PathBuf::from(source),
            source: e,
        })?;
    let entry_value = match value.get("aliases") {
        Some(aliases) => aliases
            .get(name)
            .cloned()
            .ok_or_else(|| AliasError::NotFound {
                name: name.to_owned(),
            })?,
        None => value,
    };
    let entry: AliasEntry = serde_json::from_value(entry_value).map_err(|e| AliasError::Parse {
        path: PathBuf::from(source),
        source: e,
    })?;
    entry.validate(name)?;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_aliases_are_recognised_by_host_or_api_and_name_their_account() {
        use crate::backend::azure::AzureCredentials;
        let mut e = AliasEntry::new("https://acct1.blob.core.windows.net", "", "a2V5");
        assert!(e.is_azure());
        let c = e.azure_config("az").expect("config");
        assert_eq!(c.account, "acct1");
        assert!(matches!(c.credentials, AzureCredentials::SharedKey(_)));
        e.secret_key = "?sv=2024-01-01&sp=rl&sig=abc%3D".into();
        let c = e.azure_config("az").expect("config");
        assert!(matches!(c.credentials, AzureCredentials::Sas(ref s) if s.starts_with("sv=")));
        assert!(AliasEntry::new("https://x.blob.core.chinacloudapi.cn", "", "").is_azure());
        let mut emu = AliasEntry::new("http://127.0.0.1:10000/devstoreaccount1", "", "a2V5");
        assert!(!emu.is_azure(), "an emulator needs --api azure");
        emu.api = "azure".into();
        assert_eq!(
            emu.azure_config("emu").expect("config").account,
            "devstoreaccount1"
        );
        emu.validate("emu").expect("a path is fine for Azure");
        emu.url = "http://127.0.0.1:10000/devstoreaccount1?sv=x".into();
        let err = emu.validate("emu").expect_err("query").to_string();
        assert!(err.contains("a SAS goes in the secret"), "{err}");
        assert!(!AliasEntry::new("https://s3.amazonaws.com", "", "").is_azure());
    }

    #[test]
    fn mc_v10_file_round_trips_with_unknown_keys() {
        let mc = br#"{"version":"10","aliases":{"gcs":{"url":"https://storage.googleapis.com","accessKey":"GOOG1","secretKey":"s3cr3t","api":"S3v2","path":"dns"},"local":{"url":"http://localhost:9000","accessKey":"","secretKey":"","api":"S3v4","path":"auto","license":"x"}}}"#;
        let f = parse_file(Path::new("c.json"), mc).expect("parses");
        assert_eq!(f.aliases["gcs"].path, "dns");
        assert_eq!(f.aliases["local"].extra["license"], "x");
        let again: AliasFile =
            serde_json::from_str(&serde_json::to_string(&f).expect("ser")).expect("de");
        assert_eq!(again, f);
    }

    #[test]
    fn host_env_parses_key_secret_token() {
        let e = parse_host_env("https://AK:S%2Fk:TOK@s3.example.com:9000").expect("parses");
        assert_eq!(e.url, "https://s3.example.com:9000");
        assert_eq!(e.access_key, "AK");
        assert_eq!(e.secret_key, "S/k");
        assert_eq!(e.session_token.as_deref(), Some("TOK"));
        assert!(parse_host_env("not a url").is_none());
        assert!(parse_host_env("ftp://a:b@h").is_none());
    }

    #[test]
    fn names_and_urls_are_checked() {
        assert!(validate_name("prod-1_x").is_ok());
        for bad in ["", "1abc", "a/b", "a b", "a.b"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert!(
            AliasEntry::new("http://127.0.0.1:9000", "a", "b")
                .validate("x")
                .is_ok()
        );
        for bad in [
            "127.0.0.1:9000",
            "ftp://h",
            "http://",
            "http://h/path",
            "http://u:p@h",
        ] {
            assert!(
                AliasEntry::new(bad, "a", "b").validate("x").is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn debug_and_mask_hide_secrets() {
        let e = AliasEntry::new("http://h", "AKIAEXAMPLE", "topsecretvalue");
        assert!(!format!("{e:?}").contains("topsecretvalue"));
        assert_eq!(e.masked_access_key(), "AKIA*******");
        assert_eq!(mask("ab", 4), "a****");
    }

    #[test]
    fn save_is_0600_and_loads_back() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = ConfigDir::new(tmp.path().join("cfg"));
        let mut f = AliasFile::default();
        f.aliases
            .insert("a".into(), AliasEntry::new("http://h:1", "k", "s"));
        dir.save(&f).expect("save");
        let mode = std::fs::metadata(dir.file())
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(dir.load().expect("load"), f);
    }
}

#[cfg(test)]
mod example_config {
    use super::*;

    /// configs/aliases.example.json (shown in README and docs/providers.md) stays valid.
    #[test]
    fn example_alias_file_parses_and_validates() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/aliases.example.json");
        let bytes = std::fs::read(&path).expect("example file");
        let file = parse_file(&path, &bytes).expect("parses");
        assert!(file.aliases.len() >= 6);
        for (name, entry) in &file.aliases {
            entry
                .validate(name)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let imported = parse_import(name, "example", &bytes).expect("importable by name");
            assert_eq!(&imported, entry);
        }
        let oss = file.aliases["oss"].s3_config("oss");
        assert_eq!(
            (oss.region.as_str(), oss.path_style),
            ("oss-cn-hangzhou", false)
        );
        let aws = file.aliases["aws"].s3_config("aws");
        assert_eq!(aws.region, "eu-west-1");
        assert!(matches!(aws.credentials, S3Credentials::DefaultChain));
    }
}

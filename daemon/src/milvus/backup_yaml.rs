//! milvus-backup's own config file (`backup.yaml`), read for what ferry needs from it: where
//! each of its two storages is (the Milvus deployment's and the backup destination's), with
//! which credentials, and the folder backups are written to.
//!
//! Both layouts milvus-backup reads are understood:
//! - v1 (no `configVersion`): one flat `minio:` section; `backup*` keys describe the backup
//!   storage and fall back to the Milvus storage's keys when absent (`backupAddress` to
//!   `address`...), except `backupRootPath`, which defaults to `backup`.
//! - v2 (`configVersion: v2`): `milvus.storage` and `backup.storage`, each with an `auth:`
//!   block; `backup.storage` inherits every key it leaves out from `milvus.storage`, except
//!   `rootPath` (default `backup`: backups do not live under Milvus's own root).
//!
//! Keys are matched without regard to case, as milvus-backup does. Credentials may come from
//! the environment milvus-backup reads (`BACKUP_STORAGE_AUTH_SECRET_ACCESS_KEY`,
//! `MINIO_BACKUP_SECRET_KEY`...); they win over the file there, and here too.

use std::fmt;
use std::path::{Path, PathBuf};

use yaml_serde::Value;

use crate::alias::AliasEntry;

/// What can be wrong with a backup.yaml.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum YamlError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not YAML.
    #[error("{} is not valid YAML", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: yaml_serde::Error,
    },
    /// YAML, but not a milvus-backup config.
    #[error(
        "{} is not a milvus-backup config: it has neither a minio: section (v1) nor milvus.storage / backup.storage (v2)",
        path.display()
    )]
    NotBackupYaml { path: PathBuf },
    /// A key holds a value that cannot be used.
    #[error("{}: {key}: {message}", path.display())]
    Key {
        path: PathBuf,
        key: String,
        message: String,
    },
}

/// Which layout the file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Which of the file's two storages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The Milvus deployment's own bucket.
    Milvus,
    /// Where milvus-backup writes backups.
    Backup,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Milvus => "Milvus storage",
            Side::Backup => "backup storage",
        })
    }
}

/// How a storage authenticates.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// An access key pair (and maybe a session token).
    Static {
        access_key: String,
        secret_key: String,
        session_token: Option<String>,
    },
    /// Credentials from the environment's provider chain (v1 `useIAM`, v2 `iam`/`default`).
    Chain,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Static { access_key, .. } => f
                .debug_struct("Static")
                .field("access_key", access_key)
                .finish_non_exhaustive(),
            Auth::Chain => f.write_str("Chain"),
        }
    }
}

/// One storage as milvus-backup resolves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    /// milvus-backup's provider name, lower case (`minio`, `aws`, `local`...).
    pub provider: String,
    pub address: String,
    pub port: u16,
    pub region: String,
    pub use_ssl: bool,
    pub bucket: String,
    pub root_path: String,
    /// The key the provider was read from (for messages).
    pub provider_key: String,
    /// The key the root path was read from, or where it would be written.
    pub root_key: String,
    pub auth: Auth,
    /// Environment variables that supplied credentials.
    pub from_env: Vec<&'static str>,
}

/// Where a storage's backups are, in ferry's terms.
#[derive(Debug, Clone)]
pub enum Place {
    /// An S3-compatible store: an alias to add, and the bucket and folder in it.
    S3 {
        entry: Box<AliasEntry>,
        bucket: String,
        root: String,
    },
    /// A local folder.
    Local { path: PathBuf },
}

impl Place {
    /// The location to write in a command or a job, given the alias name: `alias/bucket/root/`
    /// or the folder with a trailing slash.
    pub fn location(&self, alias: &str) -> String {
        match self {
            Place::S3 { bucket, root, .. } if root.is_empty() => format!("{alias}/{bucket}/"),
            Place::S3 { bucket, root, .. } => format!("{alias}/{bucket}/{root}/"),
            Place::Local { path } => {
                format!("{}/", path.display().to_string().trim_end_matches('/'))
            }
        }
    }
}

/// A parsed backup.yaml.
#[derive(Debug, Clone)]
pub struct BackupYaml {
    pub path: PathBuf,
    pub version: Version,
    pub milvus: Storage,
    pub backup: Storage,
}

/// Whether `text` looks like a milvus-backup config rather than anything else (JSON alias
/// exports, say): it is a YAML mapping with a `minio` or `configVersion` key, or a
/// `milvus`/`backup` key holding `storage`.
pub fn looks_like_backup_yaml(text: &str) -> bool {
    let Ok(v) = yaml_serde::from_str::<Value>(text) else {
        return false;
    };
    get(&v, "minio").is_some()
        || get(&v, "configVersion").is_some()
        || get(&v, "milvus.storage").is_some()
        || get(&v, "backup.storage").is_some()
}

impl BackupYaml {
    /// Reads and resolves `path`, taking credentials from the process environment as
    /// milvus-backup would.
    pub fn load(path: &Path) -> Result<BackupYaml, YamlError> {
        let text = std::fs::read_to_string(path).map_err(|source| YamlError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text, &|k| {
            std::env::var(k).ok().filter(|v| !v.is_empty())
        })
    }

    /// Resolves `text` (read from `path`) with `env` standing for the environment.
    pub fn parse(
        path: &Path,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<BackupYaml, YamlError> {
        let root: Value = yaml_serde::from_str(text).map_err(|source| YamlError::Parse {
            path: path.to_owned(),
            source,
        })?;
        let r = Reader {
            path,
            root: &root,
            env,
        };
        let declared = r.string(&["configVersion"])?;
        let version = match declared.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("v2" | "2") => Version::V2,
            Some("v1" | "1") => Version::V1,
            Some(other) => {
                return Err(r.bad("configVersion", format!("{other:?} is not v1 or v2")));
            }
            None if get(&root, "minio").is_some() => Version::V1,
            None if get(&root, "milvus.storage").is_some()
                || get(&root, "backup.storage").is_some() =>
            {
                Version::V2
            }
            None => {
                return Err(YamlError::NotBackupYaml {
                    path: path.to_owned(),
                });
            }
        };
        let (milvus, backup) = match version {
            Version::V1 => {
                let milvus = r.storage(&V1_MILVUS, None)?;
                let backup = r.storage(&V1_BACKUP, Some(&milvus))?;
                (milvus, backup)
            }
            Version::V2 => {
                let milvus = r.storage(&V2_MILVUS, None)?;
                let backup = r.storage(&V2_BACKUP, Some(&milvus))?;
                (milvus, backup)
            }
        };
        Ok(BackupYaml {
            path: path.to_owned(),
            version,
            milvus,
            backup,
        })
    }

    pub fn side(&self, side: Side) -> &Storage {
        match side {
            Side::Milvus => &self.milvus,
            Side::Backup => &self.backup,
        }
    }

    /// Where `side`'s data is, in ferry's terms, or why ferry cannot reach it.
    pub fn place(&self, side: Side) -> Result<Place, YamlError> {
        let s = self.side(side);
        let bad = |key: &str, message: String| YamlError::Key {
            path: self.path.clone(),
            key: key.to_owned(),
            message,
        };
        let path_style = match s.provider.as_str() {
            "local" => {
                let p = PathBuf::from(&s.root_path);
                if !p.is_absolute() {
                    return Err(bad(
                        &s.root_key,
                        format!(
                            "the {side} is a local folder given as {:?}, relative to wherever milvus-backup runs; write it as an absolute path",
                            s.root_path
                        ),
                    ));
                }
                return Ok(Place::Local { path: p });
            }
            "minio" | "s3" | "aws" | "gcp" => "auto",
            // Aliyun OSS and Tencent COS only take virtual-host requests.
            "ali" | "aliyun" | "tc" | "tencent" => "off",
            "azure" => {
                return Err(bad(
                    &s.provider_key,
                    format!("the {side} is Azure Blob Storage, which ferry does not reach yet"),
                ));
            }
            "gcpnative" => {
                return Err(bad(
                    &s.provider_key,
                    format!(
                        "the {side} is Google Cloud Storage's own API; ferry speaks its S3 interoperability API: use provider gcp with an HMAC key"
                    ),
                ));
            }
            other => {
                return Err(bad(
                    &s.provider_key,
                    format!(
                        "unknown provider {other:?} (milvus-backup knows local, minio, s3, aws, gcp, gcpnative, ali, tc, azure)"
                    ),
                ));
            }
        };
        if s.address.is_empty() {
            return Err(bad(&format!("address of the {side}"), "is empty".into()));
        }
        if s.address.contains("://") || s.address.contains('/') {
            return Err(bad(
                &format!("address of the {side}"),
                format!(
                    "{:?} is not a host name: milvus-backup takes the host alone (the scheme comes from useSSL)",
                    s.address
                ),
            ));
        }
        let scheme = if s.use_ssl { "https" } else { "http" };
        let host = if s.address.contains(':') && !s.address.starts_with('[') {
            format!("[{}]", s.address)
        } else {
            s.address.clone()
        };
        let url = match (s.use_ssl, s.port) {
            (true, 443) | (false, 80) | (_, 0) => format!("{scheme}://{host}"),
            (_, port) => format!("{scheme}://{host}:{port}"),
        };
        let mut entry = match &s.auth {
            Auth::Static {
                access_key,
                secret_key,
                session_token,
            } => {
                let mut e = AliasEntry::new(&url, access_key, secret_key);
                e.session_token = session_token.clone();
                e
            }
            Auth::Chain => AliasEntry::new(&url, "", ""),
        };
        entry.path = path_style.to_owned();
        entry.region = Some(s.region.clone()).filter(|r| !r.is_empty());
        if s.bucket.is_empty() {
            return Err(bad(&format!("bucket of the {side}"), "is empty".into()));
        }
        Ok(Place::S3 {
            entry: Box::new(entry),
            bucket: s.bucket.clone(),
            root: s.root_path.trim_matches('/').to_owned(),
        })
    }
}

/// The keys (first present wins) and environment variables of one storage's fields.
struct Keys {
    provider: &'static [&'static str],
    address: &'static [&'static str],
    port: &'static [&'static str],
    region: &'static [&'static str],
    use_ssl: &'static [&'static str],
    bucket: &'static [&'static str],
    root: &'static [&'static str],
    /// The root's default when no key names it (both sides fall back to milvus-backup's
    /// defaults; the backup side's root is never inherited).
    root_default: &'static str,
    /// `Some`: v2's `auth.type` key; `None`: v1's `useIAM` key below.
    auth_type: Option<&'static str>,
    use_iam: &'static [&'static str],
    access_key: (&'static [&'static str], &'static str),
    secret_key: (&'static [&'static str], &'static str),
    token: (&'static [&'static str], &'static str),
}

const V1_MILVUS: Keys = Keys {
    provider: &[
        "storage.storageType",
        "minio.storageType",
        "minio.cloudProvider",
    ],
    address: &["minio.address"],
    port: &["minio.port"],
    region: &["minio.region"],
    use_ssl: &["minio.useSSL"],
    bucket: &["minio.bucketName"],
    root: &["minio.rootPath"],
    root_default: "files",
    auth_type: None,
    use_iam: &["minio.useIAM"],
    access_key: (&["minio.accessKeyID"], "MINIO_ACCESS_KEY"),
    secret_key: (&["minio.secretAccessKey"], "MINIO_SECRET_KEY"),
    token: (&["minio.token"], "MINIO_TOKEN"),
};

const V1_BACKUP: Keys = Keys {
    provider: &["storage.backupStorageType", "minio.backupStorageType"],
    address: &["minio.backupAddress"],
    port: &["minio.backupPort"],
    region: &["minio.backupRegion"],
    use_ssl: &["minio.backupUseSSL"],
    bucket: &["minio.backupBucketName"],
    root: &["minio.backupRootPath"],
    root_default: "backup",
    auth_type: None,
    use_iam: &["minio.backupUseIAM"],
    access_key: (&["minio.backupAccessKeyID"], "MINIO_BACKUP_ACCESS_KEY"),
    secret_key: (&["minio.backupSecretAccessKey"], "MINIO_BACKUP_SECRET_KEY"),
    token: (&["minio.backupToken"], "MINIO_BACKUP_TOKEN"),
};

const V2_MILVUS: Keys = Keys {
    provider: &["milvus.storage.provider"],
    address: &["milvus.storage.address"],
    port: &["milvus.storage.port"],
    region: &["milvus.storage.region"],
    use_ssl: &["milvus.storage.useSSL"],
    bucket: &["milvus.storage.bucketName"],
    root: &["milvus.storage.rootPath"],
    root_default: "files",
    auth_type: Some("milvus.storage.auth.type"),
    use_iam: &[],
    access_key: (
        &["milvus.storage.auth.accessKeyID"],
        "MILVUS_STORAGE_AUTH_ACCESS_KEY_ID",
    ),
    secret_key: (
        &["milvus.storage.auth.secretAccessKey"],
        "MILVUS_STORAGE_AUTH_SECRET_ACCESS_KEY",
    ),
    token: (
        &["milvus.storage.auth.sessionToken"],
        "MILVUS_STORAGE_AUTH_SESSION_TOKEN",
    ),
};

const V2_BACKUP: Keys = Keys {
    provider: &["backup.storage.provider"],
    address: &["backup.storage.address"],
    port: &["backup.storage.port"],
    region: &["backup.storage.region"],
    use_ssl: &["backup.storage.useSSL"],
    bucket: &["backup.storage.bucketName"],
    root: &["backup.storage.rootPath"],
    root_default: "backup",
    auth_type: Some("backup.storage.auth.type"),
    use_iam: &[],
    access_key: (
        &["backup.storage.auth.accessKeyID"],
        "BACKUP_STORAGE_AUTH_ACCESS_KEY_ID",
    ),
    secret_key: (
        &["backup.storage.auth.secretAccessKey"],
        "BACKUP_STORAGE_AUTH_SECRET_ACCESS_KEY",
    ),
    token: (
        &["backup.storage.auth.sessionToken"],
        "BACKUP_STORAGE_AUTH_SESSION_TOKEN",
    ),
};

struct Reader<'a> {
    path: &'a Path,
    root: &'a Value,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Reader<'_> {
    fn bad(&self, key: &str, message: String) -> YamlError {
        YamlError::Key {
            path: self.path.to_owned(),
            key: key.to_owned(),
            message,
        }
    }

    /// The first of `keys` present, as text, with the key it came from.
    fn found(&self, keys: &[&'static str]) -> Result<Option<(String, &'static str)>, YamlError> {
        for &k in keys {
            match get(self.root, k) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => return Ok(Some((s.clone(), k))),
                Some(Value::Number(n)) => return Ok(Some((n.to_string(), k))),
                Some(Value::Bool(b)) => return Ok(Some((b.to_string(), k))),
                Some(_) => {
                    return Err(
                        self.bad(k, "expected a single value, not a list or a section".into())
                    );
                }
            }
        }
        Ok(None)
    }

    fn string(&self, keys: &[&'static str]) -> Result<Option<String>, YamlError> {
        Ok(self.found(keys)?.map(|(v, _)| v))
    }

    fn bool(&self, keys: &[&'static str]) -> Result<Option<bool>, YamlError> {
        match self.found(keys)? {
            None => Ok(None),
            Some((v, k)) => match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Ok(Some(true)),
                "false" | "no" | "off" | "0" | "" => Ok(Some(false)),
                _ => Err(self.bad(k, format!("{v:?} is not true or false"))),
            },
        }
    }

    fn port(&self, keys: &[&'static str]) -> Result<Option<u16>, YamlError> {
        match self.found(keys)? {
            None => Ok(None),
            Some((v, k)) => v
                .trim()
                .parse::<u16>()
                .map(Some)
                .map_err(|_| self.bad(k, format!("{v:?} is not a port number"))),
        }
    }

    /// A credential: the environment variable wins over the file, as in milvus-backup.
    fn secret(
        &self,
        (keys, var): (&'static [&'static str], &'static str),
        from_env: &mut Vec<&'static str>,
    ) -> Result<Option<String>, YamlError> {
        if let Some(v) = (self.env)(var) {
            from_env.push(var);
            return Ok(Some(v));
        }
        self.string(keys)
    }

    /// Resolves one storage; `base` is the storage it inherits from (the backup side's from
    /// the Milvus side).
    fn storage(&self, k: &Keys, base: Option<&Storage>) -> Result<Storage, YamlError> {
        let mut from_env = Vec::new();
        let provider_found = self.found(k.provider)?;
        let provider_key = provider_found
            .as_ref()
            .map(|(_, key)| key.to_string())
            .or_else(|| base.map(|b| b.provider_key.clone()))
            .unwrap_or_else(|| k.provider[0].to_owned());
        let provider = provider_found
            .map(|(v, _)| v.to_ascii_lowercase())
            .or_else(|| base.map(|b| b.provider.clone()))
            .unwrap_or_else(|| "minio".into());
        let text = |keys, inherited: Option<&String>, default: &str| -> Result<String, YamlError> {
            Ok(self
                .string(keys)?
                .or_else(|| inherited.cloned())
                .unwrap_or_else(|| default.to_owned()))
        };
        let address = text(k.address, base.map(|b| &b.address), "localhost")?;
        let region = text(k.region, base.map(|b| &b.region), "")?;
        let bucket = text(k.bucket, base.map(|b| &b.bucket), "a-bucket")?;
        let port = match self.port(k.port)? {
            Some(p) => p,
            None => base.map_or(9000, |b| b.port),
        };
        let use_ssl = match self.bool(k.use_ssl)? {
            Some(b) => b,
            None => base.is_some_and(|b| b.use_ssl),
        };
        let (root_path, root_key) = match self.found(k.root)? {
            Some((v, key)) => (v, key.to_owned()),
            None => (k.root_default.to_owned(), k.root[0].to_owned()),
        };

        let inherited_static = match base.map(|b| &b.auth) {
            Some(Auth::Static {
                access_key,
                secret_key,
                session_token,
            }) => Some((
                access_key.clone(),
                secret_key.clone(),
                session_token.clone(),
            )),
            _ => None,
        };
        let chain = match k.auth_type {
            Some(key) => match self.string(&[key])?.map(|t| t.to_ascii_lowercase()) {
                None => base.is_some_and(|b| b.auth == Auth::Chain),
                Some(t) if t == "static" => false,
                Some(t) if t == "iam" || t == "default" => true,
                Some(t) => {
                    return Err(self.bad(
                        key,
                        format!("auth type {t:?} has no S3 equivalent in ferry (use static, iam or default)"),
                    ));
                }
            },
            None => match self.bool(k.use_iam)? {
                Some(b) => b,
                None => base.is_some_and(|b| b.auth == Auth::Chain),
            },
        };
        let auth = if chain {
            Auth::Chain
        } else {
            let access_key = self.secret(k.access_key, &mut from_env)?;
            let secret_key = self.secret(k.secret_key, &mut from_env)?;
            let session_token = self.secret(k.token, &mut from_env)?;
            let (ak0, sk0, tok0) = inherited_static
                .unwrap_or_else(|| ("minioadmin".into(), "minioadmin".into(), None));
            Auth::Static {
                access_key: access_key.unwrap_or(ak0),
                secret_key: secret_key.unwrap_or(sk0),
                session_token: session_token.or(tok0).filter(|t| !t.is_empty()),
            }
        };
        Ok(Storage {
            provider,
            address,
            port,
            region,
            use_ssl,
            bucket,
            root_path,
            provider_key,
            root_key,
            auth,
            from_env,
        })
    }
}

/// `dotted` (`minio.backupAddress`) looked up in nested mappings, keys compared without case.
fn get<'v>(root: &'v Value, dotted: &str) -> Option<&'v Value> {
    let mut at = root;
    for part in dotted.split('.') {
        let Value::Mapping(m) = at else { return None };
        at = m.iter().find_map(|(k, v)| match k {
            Value::String(s) if s.eq_ignore_ascii_case(part) => Some(v),
            _ => None,
        })?;
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> BackupYaml {
        BackupYaml::parse(Path::new("backup.yaml"), text, &|_| None).expect("parses")
    }

    fn s3(y: &BackupYaml, side: Side) -> (AliasEntry, String, String) {
        match y.place(side).expect("place") {
            Place::S3 {
                entry,
                bucket,
                root,
            } => (*entry, bucket, root),
            Place::Local { path } => panic!("local {path:?}"),
        }
    }

    const V1: &str = r#"
minio:
  storageType: "minio"
  address: milvus-minio
  port: 9000
  accessKeyID: minioadmin
  secretAccessKey: minioadmin
  useSSL: false
  bucketName: "a-bucket"
  rootPath: "files"
  backupStorageType: "s3"
  backupAddress: s3.eu-central-1.amazonaws.com
  backupPort: 443
  backupRegion: eu-central-1
  backupAccessKeyID: AKIABACKUP
  backupSecretAccessKey: "backup secret"
  backupBucketName: "backups"
  backupRootPath: "milvus/backup"
  backupUseSSL: true
  crossStorage: "false"
"#;

    #[test]
    fn v1_backup_side_becomes_an_alias_bucket_and_root() {
        let y = parse(V1);
        assert_eq!(y.version, Version::V1);
        let (e, bucket, root) = s3(&y, Side::Backup);
        assert_eq!(e.url, "https://s3.eu-central-1.amazonaws.com");
        assert_eq!(e.access_key, "AKIABACKUP");
        assert_eq!(e.secret_key, "backup secret");
        assert_eq!(e.region.as_deref(), Some("eu-central-1"));
        assert_eq!(
            (bucket.as_str(), root.as_str()),
            ("backups", "milvus/backup")
        );
        let (m, bucket, root) = s3(&y, Side::Milvus);
        assert_eq!(m.url, "http://milvus-minio:9000");
        assert_eq!((bucket.as_str(), root.as_str()), ("a-bucket", "files"));
    }

    #[test]
    fn v1_backup_keys_fall_back_to_the_milvus_keys_but_not_the_root() {
        let y = parse(
            "minio:\n  address: 10.0.0.5\n  port: \"9001\"\n  accessKeyID: AK\n  secretAccessKey: SK\n  bucketName: milvus-bucket\n  rootPath: files\n",
        );
        let (e, bucket, root) = s3(&y, Side::Backup);
        assert_eq!(e.url, "http://10.0.0.5:9001");
        assert_eq!((e.access_key.as_str(), e.secret_key.as_str()), ("AK", "SK"));
        assert_eq!(
            (bucket.as_str(), root.as_str()),
            ("milvus-bucket", "backup")
        );
    }

    #[test]
    fn keys_match_without_case_and_the_environment_wins_for_credentials() {
        let text = "MINIO:\n  BACKUPADDRESS: host\n  backupaccesskeyid: fromfile\n  backupSecretAccessKey: fromfile\n";
        let env = |k: &str| (k == "MINIO_BACKUP_SECRET_KEY").then(|| "fromenv".to_owned());
        let y = BackupYaml::parse(Path::new("b.yaml"), text, &env).expect("parses");
        let (e, _, _) = s3(&y, Side::Backup);
        assert_eq!(e.url, "http://host:9000");
        assert_eq!(e.access_key, "fromfile");
        assert_eq!(e.secret_key, "fromenv");
        assert_eq!(y.backup.from_env, vec!["MINIO_BACKUP_SECRET_KEY"]);
    }

    #[test]
    fn v2_backup_storage_inherits_all_but_its_root() {
        let y = parse(
            r#"configVersion: v2
milvus:
  storage:
    provider: aws
    address: s3.us-east-1.amazonaws.com
    port: 443
    region: us-east-1
    useSSL: true
    bucketName: milvus-data
    rootPath: files
    auth:
      type: iam
backup:
  storage:
    bucketName: milvus-backups
"#,
        );
        assert_eq!(y.version, Version::V2);
        let (e, bucket, root) = s3(&y, Side::Backup);
        assert_eq!(e.url, "https://s3.us-east-1.amazonaws.com");
        assert!(e.access_key.is_empty(), "iam: the default chain");
        assert_eq!(
            (bucket.as_str(), root.as_str()),
            ("milvus-backups", "backup")
        );
    }

    #[test]
    fn v2_local_backup_storage_is_a_folder() {
        let y = parse(
            "configVersion: v2\nbackup:\n  storage:\n    provider: local\n    rootPath: /var/lib/milvus-backup\n",
        );
        match y.place(Side::Backup).expect("place") {
            Place::Local { path } => assert_eq!(path, Path::new("/var/lib/milvus-backup")),
            other => panic!("{other:?}"),
        }
        let rel = parse(
            "configVersion: v2\nbackup:\n  storage:\n    provider: local\n    rootPath: data\n",
        );
        let e = rel.place(Side::Backup).expect_err("relative").to_string();
        assert!(
            e.contains("backup.storage.rootPath") && e.contains("absolute"),
            "{e}"
        );
    }

    #[test]
    fn what_ferry_cannot_reach_is_named_by_key() {
        let cases = [
            (
                "minio:\n  backupStorageType: azure\n",
                "minio.backupStorageType",
                "Azure",
            ),
            (
                "minio:\n  storageType: gcpnative\n",
                "minio.storageType",
                "HMAC",
            ),
            (
                "minio:\n  backupStorageType: floppy\n",
                "minio.backupStorageType",
                "unknown provider",
            ),
            (
                "minio:\n  backupPort: ninety\n",
                "minio.backupPort",
                "not a port",
            ),
            (
                "minio:\n  backupAddress: http://h\n",
                "address of the backup storage",
                "not a host name",
            ),
            (
                "configVersion: v2\nbackup:\n  storage:\n    auth:\n      type: accountKey\n",
                "backup.storage.auth.type",
                "static, iam or default",
            ),
            ("configVersion: v3\n", "configVersion", "not v1 or v2"),
        ];
        for (text, key, words) in cases {
            let e = BackupYaml::parse(Path::new("b.yaml"), text, &|_| None)
                .and_then(|y| y.place(Side::Backup).map(|_| ()))
                .expect_err(text)
                .to_string();
            assert!(e.contains(key) && e.contains(words), "{text}: {e}");
        }
        let e = BackupYaml::parse(Path::new("b.yaml"), "log:\n  level: info\n", &|_| None)
            .expect_err("no storage")
            .to_string();
        assert!(e.contains("not a milvus-backup config"), "{e}");
    }

    #[test]
    fn detection_tells_backup_yaml_from_json_exports() {
        assert!(looks_like_backup_yaml(V1));
        assert!(looks_like_backup_yaml("configVersion: v2\n"));
        assert!(!looks_like_backup_yaml(
            r#"{"url": "http://x", "accessKey": "a"}"#
        ));
        assert!(!looks_like_backup_yaml("not: [yaml"));
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let y = parse(V1);
        let shown = format!("{y:?}");
        assert!(!shown.contains("backup secret"), "{shown}");
    }
}

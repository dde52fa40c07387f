//! The config file as serde reads it: every key, its span (for line numbers), unknown keys
//! refused. Checked and turned into [`super::Config`] by the other modules.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Raw {
    pub(super) state_dir: Option<Spanned<String>>,
    pub(super) alias_dir: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) control: RawControl,
    pub(super) max_transfers: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) aliases: BTreeMap<String, Spanned<RawAlias>>,
    #[serde(default)]
    pub(super) jobs: Vec<Spanned<RawJob>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawControl {
    pub(super) listen: Option<Spanned<String>>,
    pub(super) token: Option<Spanned<String>>,
    pub(super) token_file: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlias {
    pub(super) url: String,
    #[serde(default)]
    pub(super) access_key: String,
    #[serde(default)]
    pub(super) secret_key: String,
    pub(super) session_token: Option<String>,
    pub(super) api: Option<String>,
    pub(super) path: Option<String>,
    pub(super) region: Option<String>,
    pub(super) ca_cert: Option<String>,
    pub(super) list_v1: Option<bool>,
    pub(super) checksums: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJob {
    pub(super) name: Spanned<String>,
    pub(super) source: Spanned<String>,
    pub(super) target: Spanned<String>,
    pub(super) include: Option<Spanned<Vec<String>>>,
    pub(super) exclude: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub(super) remove: bool,
    pub(super) max_delete: Option<Spanned<String>>,
    pub(super) interval: Option<Spanned<String>>,
    pub(super) watch: Option<Spanned<bool>>,
    pub(super) reconcile: Option<Spanned<String>>,
    pub(super) workers: Option<Spanned<i64>>,
    pub(super) bandwidth: Option<Spanned<String>>,
    pub(super) from_url: Option<Spanned<bool>>,
    pub(super) md5: Option<Spanned<bool>>,
    pub(super) verify: Option<Spanned<bool>>,
    pub(super) layout: Option<Spanned<String>>,
    pub(super) restore: Option<Spanned<RawRestore>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRestore {
    pub(super) kind: Spanned<String>,
    pub(super) command: Option<Spanned<Vec<String>>>,
    pub(super) url: Option<Spanned<String>>,
    pub(super) backups: Option<Spanned<Vec<String>>>,
    pub(super) suffix: Option<Spanned<String>>,
    pub(super) renames: Option<Spanned<Vec<String>>>,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) poll: Option<Spanned<String>>,
    pub(super) bucket: Option<Spanned<String>>,
    pub(super) path: Option<Spanned<String>>,
    // kind = "zilliz-cloud"
    pub(super) cluster_id: Option<Spanned<String>>,
    pub(super) api_key_file: Option<Spanned<String>>,
    pub(super) api_key_env: Option<Spanned<String>>,
    pub(super) endpoint: Option<Spanned<String>>,
    pub(super) mode: Option<Spanned<String>>,
    pub(super) source_url: Option<Spanned<String>>,
    pub(super) access_key: Option<Spanned<String>>,
    pub(super) secret_key_file: Option<Spanned<String>>,
    pub(super) secret_key_env: Option<Spanned<String>>,
    pub(super) verify: Option<Spanned<RawVerify>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVerify {
    pub(super) url: Spanned<String>,
    pub(super) token_file: Option<Spanned<String>>,
    pub(super) token_env: Option<Spanned<String>>,
    pub(super) timeout: Option<Spanned<String>>,
}

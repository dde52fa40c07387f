//! Azure Storage connection strings (`AZURE_STORAGE_CONNECTION_STRING`, the portal's "Access
//! keys" page): `;`-separated `Name=Value` pairs naming the account, its key or a SAS, and
//! where the blob service is.

/// Azurite's well-known development account (public, documented by Microsoft).
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// What a connection string says about the blob service.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    /// The blob service URL.
    pub endpoint: String,
    pub account: String,
    /// The account key, or a SAS token; empty for anonymous access.
    pub secret: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("endpoint", &self.endpoint)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// Whether `text` looks like a connection string (one of its `Name=` parts is a known one).
pub fn is_connection_string(text: &str) -> bool {
    let t = text.trim();
    !t.starts_with('{')
        && t.split(';').any(|p| {
            let k = p.split_once('=').map_or(p, |(k, _)| k).trim();
            [
                "AccountName",
                "AccountKey",
                "SharedAccessSignature",
                "BlobEndpoint",
                "DefaultEndpointsProtocol",
                "UseDevelopmentStorage",
            ]
            .iter()
            .any(|n| k.eq_ignore_ascii_case(n))
        })
}

/// Parses a connection string; `Err` says which part is missing or wrong.
pub fn parse(text: &str) -> Result<Connection, String> {
    let mut get = std::collections::HashMap::new();
    for part in text
        .trim()
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!("{part:?} is not Name=Value"));
        };
        get.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    if get
        .get("usedevelopmentstorage")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        let proxy = get
            .get("developmentstorageproxyuri")
            .cloned()
            .unwrap_or_else(|| "http://127.0.0.1".to_owned());
        return Ok(Connection {
            endpoint: format!("{}:10000/{DEV_ACCOUNT}", proxy.trim_end_matches('/')),
            account: DEV_ACCOUNT.to_owned(),
            secret: DEV_KEY.to_owned(),
        });
    }
    let account = get
        .get("accountname")
        .cloned()
        .filter(|a| !a.is_empty())
        .ok_or("no AccountName")?;
    let endpoint = match get.get("blobendpoint") {
        Some(e) => e.trim_end_matches('/').to_owned(),
        None => {
            let scheme = get
                .get("defaultendpointsprotocol")
                .map_or("https", String::as_str);
            let suffix = get
                .get("endpointsuffix")
                .map_or("core.windows.net", String::as_str);
            format!("{scheme}://{account}.blob.{suffix}")
        }
    };
    let secret = get
        .get("accountkey")
        .or_else(|| get.get("sharedaccesssignature"))
        .cloned()
        .unwrap_or_default();
    Ok(Connection {
        endpoint,
        account,
        secret,
    })
}

/// The secret the environment holds for `account`, as Azure's tools read it:
/// `AZURE_STORAGE_CONNECTION_STRING` when it names that account, else `AZURE_STORAGE_KEY` or
/// `AZURE_STORAGE_SAS_TOKEN` when `AZURE_STORAGE_ACCOUNT` is that account. With the variable
/// it came from.
pub fn secret_from_env(
    account: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, &'static str)> {
    if let Some(c) = env("AZURE_STORAGE_CONNECTION_STRING").and_then(|s| parse(&s).ok())
        && c.account.eq_ignore_ascii_case(account)
        && !c.secret.is_empty()
    {
        return Some((c.secret, "AZURE_STORAGE_CONNECTION_STRING"));
    }
    if env("AZURE_STORAGE_ACCOUNT").is_some_and(|a| a.eq_ignore_ascii_case(account)) {
        if let Some(k) = env("AZURE_STORAGE_KEY").filter(|k| !k.is_empty()) {
            return Some((k, "AZURE_STORAGE_KEY"));
        }
        if let Some(s) = env("AZURE_STORAGE_SAS_TOKEN").filter(|s| !s.is_empty()) {
            return Some((s, "AZURE_STORAGE_SAS_TOKEN"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_strings_sas_strings_and_the_emulator() {
        let c = parse(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5PT0=;EndpointSuffix=core.chinacloudapi.cn",
        )
        .expect("parse");
        assert_eq!(c.endpoint, "https://acct.blob.core.chinacloudapi.cn");
        assert_eq!(
            (c.account.as_str(), c.secret.as_str()),
            ("acct", "a2V5PT0=")
        );
        let sas = parse(
            "BlobEndpoint=https://acct.blob.core.windows.net/;AccountName=acct;SharedAccessSignature=sv=2024&sig=x%3D",
        )
        .expect("parse");
        assert_eq!(sas.endpoint, "https://acct.blob.core.windows.net");
        assert_eq!(sas.secret, "sv=2024&sig=x%3D");
        let dev = parse("UseDevelopmentStorage=true").expect("parse");
        assert_eq!(dev.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        assert!(
            parse("AccountKey=x")
                .expect_err("no account")
                .contains("AccountName")
        );
        assert!(is_connection_string("AccountName=a;AccountKey=b"));
        assert!(!is_connection_string("{\"url\": \"AccountName=x\"}"));
        assert!(!format!("{c:?}").contains("a2V5"));
    }

    #[test]
    fn the_environment_gives_the_key_of_the_account_it_names() {
        let env = |k: &str| match k {
            "AZURE_STORAGE_CONNECTION_STRING" => Some("AccountName=one;AccountKey=b25l".to_owned()),
            "AZURE_STORAGE_ACCOUNT" => Some("two".to_owned()),
            "AZURE_STORAGE_KEY" => Some("dHdv".to_owned()),
            _ => None,
        };
        assert_eq!(
            secret_from_env("one", &env),
            Some(("b25l".to_owned(), "AZURE_STORAGE_CONNECTION_STRING"))
        );
        assert_eq!(
            secret_from_env("TWO", &env),
            Some(("dHdv".to_owned(), "AZURE_STORAGE_KEY"))
        );
        assert_eq!(secret_from_env("three", &env), None);
    }
}

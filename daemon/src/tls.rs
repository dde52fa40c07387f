//! One TLS configuration for every HTTPS client ferry makes outside the AWS SDK (Azure Blob,
//! Zilliz Cloud's control plane, Milvus REST): rustls on ring, trusting the system's roots plus
//! an optional PEM file of extra CAs (`--ca-cert`, an alias's `caCert`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;

/// An HTTP connector that also speaks HTTPS.
pub(crate) type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// Why a TLS setup failed.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA file cannot be read.
    #[error("cannot read CA certificate {}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The CA file holds no certificate.
    #[error("CA certificate {}: no PEM certificate in it", path.display())]
    NoCertificate { path: std::path::PathBuf },
    /// rustls refused the configuration.
    #[error("TLS setup")]
    Rustls(#[source] rustls::Error),
}

/// rustls' client configuration: the system's roots and, when given, the PEM certificates of
/// `ca_cert`.
pub(crate) fn client_config(ca_cert: Option<&Path>) -> Result<rustls::ClientConfig, TlsError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A system root rustls cannot parse is skipped, as curl does.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_cert {
        let pem = std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
            roots.add(cert).map_err(TlsError::Rustls)?;
            added += 1;
        }
        if added == 0 {
            return Err(TlsError::NoCertificate {
                path: path.to_owned(),
            });
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Rustls)?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A connector for `http://` and `https://` URLs (HTTP/1.1), with a connect timeout.
pub(crate) fn https_connector(
    ca_cert: Option<&Path>,
    connect_timeout: Duration,
) -> Result<Https, TlsError> {
    let tls = client_config(ca_cert)?;
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http))
}

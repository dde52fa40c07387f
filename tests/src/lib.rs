//! Shared pieces of ferry's end-to-end tests: the store conformance suite, an in-process S3
//! server, and helpers to run the real binaries.

pub mod conformance;
pub mod s3s_server;

use sha2::Digest;

/// Deterministic pseudo-random bytes (so a failure reproduces).
pub fn data(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut v = vec![0u8; len];
    rng.fill(&mut v);
    v
}

/// Hex SHA-256.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

use ferry_daemon::backend::s3::{S3Config, S3Credentials, S3Endpoint, S3Store};

/// An S3 store for `bucket` on a server at `url` with static keys (the bucket must exist).
pub async fn s3_store(url: &str, access_key: &str, secret_key: &str, bucket: &str) -> S3Store {
    let cfg = S3Config::for_endpoint(
        "test",
        url,
        S3Credentials::Static {
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            session_token: None,
        },
    );
    S3Endpoint::connect(&cfg).await.expect("client").bucket(bucket)
}

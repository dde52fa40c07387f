//! S3 event notifications: the JSON MinIO and Ceph post to a webhook target, and AWS S3 events
//! delivered by SNS over HTTP (the S3 event JSON inside an SNS envelope's `Message`).
//!
//! Two dialects of `s3.object.key`, told apart by each record's `eventSource`: AWS
//! (`aws:s3`) and MinIO (`minio:s3`) URL-encode it, with `+` for a space; Ceph RGW
//! (`ceph:s3`) sends it raw, as UTF-8 (a key `a b+c%.txt` arrives as is). A record without
//! `eventSource` is read as AWS's.

use serde::Deserialize;

/// One object event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    /// `s3:ObjectCreated:Put`, `ObjectRemoved:Delete`...
    pub name: String,
    pub bucket: String,
    /// Key, URL-decoded.
    pub key: String,
}

/// What a webhook body holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Body {
    /// Object events.
    Events(Vec<ObjectEvent>),
    /// An SNS subscription to confirm by visiting this URL (logged for the operator).
    SubscriptionConfirmation(String),
    /// A test event (AWS `s3:TestEvent`), nothing to do.
    Test,
}

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "Records")]
    records: Option<Vec<Record>>,
    #[serde(rename = "Event")]
    event: Option<String>,
    // SNS envelope
    #[serde(rename = "Type")]
    sns_type: Option<String>,
    #[serde(rename = "Message")]
    message: Option<String>,
    #[serde(rename = "SubscribeURL")]
    subscribe_url: Option<String>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventName")]
    event_name: String,
    #[serde(rename = "eventSource", default)]
    event_source: Option<String>,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: BucketEntity,
    object: ObjectEntity,
}

#[derive(Deserialize)]
struct BucketEntity {
    name: String,
}

#[derive(Deserialize)]
struct ObjectEntity {
    key: String,
}

/// Why a body was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookError {
    /// Not JSON of a known shape.
    #[error("not an S3 event notification: {0}")]
    Shape(String),
    /// A key that does not URL-decode to UTF-8.
    #[error("object key {0:?} is not URL-encoded UTF-8")]
    Key(String),
}

/// S3 event keys are URL-encoded, with `+` for spaces.
fn decode_key(k: &str) -> Result<String, WebhookError> {
    let plus = k.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| WebhookError::Key(k.to_owned()))
}

/// Parses a webhook body.
pub fn parse(body: &[u8]) -> Result<Body, WebhookError> {
    let n: Notification =
        serde_json::from_slice(body).map_err(|e| WebhookError::Shape(e.to_string()))?;
    match n.sns_type.as_deref() {
        Some("SubscriptionConfirmation") => {
            return n
                .subscribe_url
                .map(Body::SubscriptionConfirmation)
                .ok_or_else(|| {
                    WebhookError::Shape("SNS confirmation without SubscribeURL".into())
                });
        }
        Some("Notification") => {
            let inner = n
                .message
                .ok_or_else(|| WebhookError::Shape("SNS notification without Message".into()))?;
            return parse(inner.as_bytes());
        }
        Some(other) => return Err(WebhookError::Shape(format!("SNS message type {other:?}"))),
        None => {}
    }
    if n.event.as_deref() == Some("s3:TestEvent") {
        return Ok(Body::Test);
    }
    let records = n
        .records
        .ok_or_else(|| WebhookError::Shape("no Records".into()))?;
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        let key = if r.event_source.as_deref() == Some("ceph:s3") {
            r.s3.object.key
        } else {
            decode_key(&r.s3.object.key)?
        };
        out.push(ObjectEvent {
            name: r.event_name,
            bucket: r.s3.bucket.name,
            key,
        });
    }
    Ok(Body::Events(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minio_event() {
        let body = br#"{"EventName":"s3:ObjectCreated:Put","Key":"src/backup/b1/meta/x.json",
          "Records":[{"eventVersion":"2.0","eventSource":"minio:s3","eventName":"s3:ObjectCreated:Put",
          "s3":{"bucket":{"name":"src","arn":"arn:aws:s3:::src"},
                "object":{"key":"backup%2Fb1%2Fmeta%2Fmy+file.json","size":12,"eTag":"abc"}}}]}"#;
        assert_eq!(
            parse(body),
            Ok(Body::Events(vec![ObjectEvent {
                name: "s3:ObjectCreated:Put".into(),
                bucket: "src".into(),
                key: "backup/b1/meta/my file.json".into(),
            }]))
        );
    }

    #[test]
    fn aws_sns_envelope_and_confirmation() {
        let inner = r#"{"Records":[{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k%C3%A9"}}}]}"#;
        let body = serde_json::json!({"Type":"Notification","Message":inner}).to_string();
        match parse(body.as_bytes()) {
            Ok(Body::Events(v)) => {
                assert_eq!((v[0].key.as_str(), v[0].bucket.as_str()), ("ké", "b"))
            }
            other => panic!("{other:?}"),
        }
        let c =
            br#"{"Type":"SubscriptionConfirmation","SubscribeURL":"https://sns.example/confirm"}"#;
        assert_eq!(
            parse(c),
            Ok(Body::SubscriptionConfirmation(
                "https://sns.example/confirm".into()
            ))
        );
        assert_eq!(parse(br#"{"Event":"s3:TestEvent"}"#), Ok(Body::Test));
    }

    /// The same keys in both dialects: Ceph's raw, AWS's and MinIO's URL-encoded.
    #[test]
    fn ceph_keys_are_raw_aws_and_minio_keys_are_encoded() {
        let keys = [
            "backup/b 1/meta/x.json",
            "backup/a+b/c%20d.bin",
            "backup/100%/ü ñ 日本/😀+%2B.bin",
        ];
        let encode = |k: &str| {
            let e = percent_encoding::utf8_percent_encode(k, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
            // AWS: `/` stays, spaces become `+`.
            e.replace("%2F", "/").replace("%20", "+")
        };
        for k in keys {
            for (source, wire) in [
                ("ceph:s3", k.to_owned()),
                ("aws:s3", encode(k)),
                ("minio:s3", encode(k)),
            ] {
                let body = serde_json::json!({"Records": [{"eventSource": source,
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": "b"}, "object": {"key": wire}}}]});
                match parse(body.to_string().as_bytes()) {
                    Ok(Body::Events(v)) => assert_eq!(v[0].key, k, "{source}: {wire}"),
                    other => panic!("{source}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse(b"\x00\xff").is_err());
        assert!(parse(b"{}").is_err());
        assert!(parse(br#"{"Records":[{"eventName":"x"}]}"#).is_err());
        assert!(parse(br#"{"Records":[{"eventName":"x","s3":{"bucket":{"name":"b"},"object":{"key":"%FF"}}}]}"#).is_err());
    }
}

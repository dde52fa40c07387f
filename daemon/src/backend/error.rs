//! The public store error.
//!
//! Every backend maps its own failures (SDK errors, `io::Error`) into this enum, keeping the
//! original error as `source`. Callers branch on the variant: the sync engine retries
//! [`Error::Transient`], reports [`Error::NotFound`] as such, and stops on
//! [`Error::Unauthenticated`]. `path` is what the user typed or would recognise
//! (`alias/bucket/key`, or a local path), never a credential.

use std::fmt;

/// A boxed error kept as the cause of a store error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias for store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in a store operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object, bucket or upload does not exist.
    #[error("{path}: not found")]
    NotFound {
        path: String,
        #[source]
        source: BoxError,
    },
    /// A create-only write found an existing object or bucket.
    #[error("{path}: already exists")]
    AlreadyExists {
        path: String,
        #[source]
        source: BoxError,
    },
    /// A conditional request's precondition did not hold.
    #[error("{path}: precondition failed")]
    Precondition {
        path: String,
        #[source]
        source: BoxError,
    },
    /// The store cannot do this operation (e.g. server-side copy between two endpoints).
    #[error("{path}: {operation} is not supported here")]
    NotSupported {
        path: String,
        operation: &'static str,
    },
    /// The credentials are valid but may not do this.
    #[error("{path}: permission denied")]
    PermissionDenied {
        path: String,
        #[source]
        source: BoxError,
    },
    /// The credentials were rejected (wrong key or secret, expired token, bad signature).
    #[error("{path}: authentication failed")]
    Unauthenticated {
        path: String,
        #[source]
        source: BoxError,
    },
    /// The key cannot be stored in this backend (escapes the root, NUL byte, empty segment...).
    #[error("{path}: invalid key {key:?}: {reason}")]
    InvalidKey {
        path: String,
        key: String,
        reason: &'static str,
    },
    /// A failure that may go away when retried: 5xx, throttling, timeouts, connection resets,
    /// a body that ended early.
    #[error("{path}: temporary failure")]
    Transient {
        path: String,
        #[source]
        source: BoxError,
    },
    /// Anything else.
    #[error("{path}")]
    Generic {
        path: String,
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// True for failures worth retrying later.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Transient { .. })
    }

    /// True when the object or bucket is missing.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// The user-facing location the error is about.
    pub fn path(&self) -> &str {
        match self {
            Error::NotFound { path, .. }
            | Error::AlreadyExists { path, .. }
            | Error::Precondition { path, .. }
            | Error::NotSupported { path, .. }
            | Error::PermissionDenied { path, .. }
            | Error::Unauthenticated { path, .. }
            | Error::InvalidKey { path, .. }
            | Error::Transient { path, .. }
            | Error::Generic { path, .. } => path,
        }
    }
}

/// A plain message used as the innermost cause when there is no better error value.
#[derive(Debug)]
pub struct Message(pub String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message(s.to_owned())
    }
}

/// Box a message as an error source.
pub fn msg(s: impl Into<String>) -> BoxError {
    Box::new(Message(s.into()))
}

/// Renders an error and its chain of causes on one line: `a: b: c`, skipping causes whose text
/// repeats what is already shown, and a cause's leading `name: ` when the line already shows
/// it (a context naming the object over an error naming it again).
pub fn display_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        let shown = parts.join(": ");
        if !text.is_empty() && !shown.contains(&text) {
            let mut rest = text.as_str();
            while let Some((head, tail)) = rest.split_once(": ") {
                // Already shown: as a part, or as the end of one ("target bucket a/b" over
                // "a/b: not found").
                if parts
                    .iter()
                    .any(|p| p == head || p.ends_with(&format!(" {head}")))
                {
                    rest = tail;
                } else {
                    break;
                }
            }
            parts.push(rest.to_owned());
        }
        cur = e.source();
    }
    let mut out: Vec<&str> = Vec::new();
    for seg in parts.iter().flat_map(|p| p.split(": ")) {
        if out.last() != Some(&seg) {
            out.push(seg);
        }
    }
    out.join(": ")
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    #[derive(Debug)]
    struct E(String, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn chain_drops_repeats() {
        let e = E(
            "siteB/nosuch".into(),
            Some(Box::new(E("siteB/nosuch: no such bucket".into(), None))),
        );
        assert_eq!(display_chain(&e), "siteB/nosuch: no such bucket");
        let e = E("a: a: b".into(), Some(Box::new(E("b".into(), None))));
        assert_eq!(display_chain(&e), "a: b");
        let e = E("copy x".into(), Some(Box::new(E("timed out".into(), None))));
        assert_eq!(display_chain(&e), "copy x: timed out");
        let e = E(
            "target bucket siteB/nosuch".into(),
            Some(Box::new(E("siteB/nosuch: not found".into(), None))),
        );
        assert_eq!(display_chain(&e), "target bucket siteB/nosuch: not found");
    }
}

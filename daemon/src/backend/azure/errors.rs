//! The SDK's errors as the store's: by HTTP status and the service's error code, in words
//! (the SDK's own text is a debug dump: `HttpResponse(404, "BlobNotFound")`).

use azure_core::error::ErrorKind;

use crate::backend::Error;
use crate::backend::error::msg;

/// The innermost cause's text (hyper's "connection refused" under "client error (Connect)").
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// `e`, met at `path`, as a store error.
pub(crate) fn map(path: &str, e: azure_core::Error) -> Error {
    let path = path.to_owned();
    match e.kind() {
        ErrorKind::HttpResponse {
            status, error_code, ..
        } => {
            let status = u16::from(*status);
            let code = error_code.clone().unwrap_or_default();
            let text = if code.is_empty() {
                format!("HTTP {status}")
            } else {
                format!("{code} (HTTP {status})")
            };
            let source = msg(text);
            match status {
                404 => Error::NotFound { path, source },
                409 => Error::AlreadyExists { path, source },
                412 => Error::Precondition { path, source },
                403 if code == "AuthenticationFailed" => Error::Unauthenticated {
                    path,
                    source: msg(
                        "AuthenticationFailed: the server refused the signature (wrong account key, or an expired SAS)",
                    ),
                },
                // Azurite's answer to a wrong key; Azure's to its network rules.
                403 if code == "AuthorizationFailure" => Error::Unauthenticated {
                    path,
                    source: msg(
                        "AuthorizationFailure: the server refused this request (a wrong account key on Azurite, a SAS without this permission, or the account's network rules)",
                    ),
                },
                401 => Error::Unauthenticated { path, source },
                403 => Error::PermissionDenied { path, source },
                // The emulator's answer to what it does not implement (From-URL copies): the
                // caller does it another way.
                501 => Error::NotSupported {
                    path,
                    operation: "this request (the service answers 501 Not Implemented)",
                },
                408 | 429 | 500..=599 => Error::Transient { path, source },
                _ => Error::Generic { path, source },
            }
        }
        ErrorKind::Connection => Error::Transient {
            path,
            source: msg(format!(
                "cannot connect: {} (is the server running and the URL right?)",
                root_cause(&e)
            )),
        },
        ErrorKind::Io => Error::Transient {
            path,
            source: msg(root_cause(&e)),
        },
        _ => Error::Generic {
            path,
            source: msg(root_cause(&e)),
        },
    }
}

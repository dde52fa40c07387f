//! SDK interceptors and retry classifiers: a precomputed payload hash, clock-skewed refusals
//! retried with the server's time, attempts counted.

use std::sync::Arc;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::backend::BoxError;

/// Signs a request with a payload hash computed earlier (lowercase hex SHA-256 of the body)
/// instead of letting the SDK hash the body again: the hash ferry computes anyway for its
/// manifest goes into `x-amz-content-sha256`, and the server verifies the body against it.
/// An override already chosen by the SDK (streaming checksum trailers) is left alone.
#[derive(Debug)]
pub(super) struct PrecomputedPayloadHash(pub(super) String);

impl aws_smithy_runtime_api::client::interceptors::Intercept for PrecomputedPayloadHash {
    fn name(&self) -> &'static str {
        "PrecomputedPayloadHash"
    }

    fn modify_before_signing(
        &self,
        _context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        use aws_runtime::auth::PayloadSigningOverride;
        if cfg.load::<PayloadSigningOverride>().is_none() {
            cfg.interceptor_state()
                .store_put(PayloadSigningOverride::Precomputed(self.0.clone()));
        }
        Ok(())
    }
}

/// How far the server's clock (its `Date` header) is from ours, when that is more than five
/// minutes (SigV4 allows fifteen): positive when the server is ahead.
pub(super) fn clock_skew(response: &HttpResponse) -> Option<i64> {
    use aws_smithy_types::date_time::{DateTime as SmithyTime, Format};
    let date = response.headers().get("date")?;
    let server =
        std::time::SystemTime::try_from(SmithyTime::from_str(date, Format::HttpDate).ok()?).ok()?;
    let skew = match server.duration_since(std::time::SystemTime::now()) {
        Ok(ahead) => ahead.as_secs() as i64,
        Err(behind) => -(behind.duration().as_secs() as i64),
    };
    (skew.abs() > 300).then_some(skew)
}

/// `3d4h`, `1h0m`, `7m`.
pub(super) fn human_secs(s: u64) -> String {
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else {
        format!("{m}m")
    }
}

/// Retries a `403` without an error code (a HEAD's answer has no body) when the server's
/// clock is far from ours: likely RequestTimeTooSkewed. The SDK has measured the skew from
/// that answer's `Date` and signs the retry with the server's time, as it does by itself
/// for errors that carry the code.
#[derive(Debug)]
pub(super) struct SkewedRefusal;

impl aws_smithy_runtime_api::client::retries::classifiers::ClassifyRetry for SkewedRefusal {
    fn classify_retry(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::InterceptorContext,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryAction {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryAction;
        match ctx.response() {
            Some(r) if r.status().as_u16() == 403 && clock_skew(r).is_some() => {
                RetryAction::retryable_error(aws_smithy_types::retry::ErrorKind::ServerError)
            }
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "SkewedRefusal"
    }
}

/// Never retries a request whose scheme is wrong for the server (TLS to a plain-HTTP port,
/// plain HTTP to a TLS port): the same answer comes back every time, and four attempts only
/// make the user wait for the error.
#[derive(Debug)]
pub(super) struct WrongScheme;

impl aws_smithy_runtime_api::client::retries::classifiers::ClassifyRetry for WrongScheme {
    fn classify_retry(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::InterceptorContext,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryAction {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryAction;
        let mut text = String::new();
        if let Some(Err(e)) = ctx.output_or_error() {
            text = format!("{e:?}");
            let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
            while let Some(x) = cur {
                text.push(' ');
                text.push_str(&x.to_string());
                cur = x.source();
            }
        }
        if let Some(body) = ctx.response().and_then(|r| r.body().bytes()) {
            text.push(' ');
            text.push_str(&String::from_utf8_lossy(body));
        }
        if protocol_mismatch(&text).is_some() {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "WrongScheme"
    }
}

/// Keeps the `Server` header of a request's last response (who answered a probe).
#[derive(Debug)]
pub(super) struct ServerHeader(pub(super) Arc<std::sync::Mutex<String>>);

impl aws_smithy_runtime_api::client::interceptors::Intercept for ServerHeader {
    fn name(&self) -> &'static str {
        "ServerHeader"
    }

    fn read_before_deserialization(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        if let Some(server) = context.response().headers().get("server") {
            server.clone_into(&mut crate::lock::lock(&self.0));
        }
        Ok(())
    }
}

/// Counts the attempts of one request (the SDK retries inside `send`).
#[derive(Debug)]
pub(super) struct CountAttempts(pub(super) Arc<std::sync::atomic::AtomicU32>);

impl aws_smithy_runtime_api::client::interceptors::Intercept for CountAttempts {
    fn name(&self) -> &'static str {
        "CountAttempts"
    }

    fn read_before_attempt(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

/// TLS spoken to a plain-HTTP port, or plain HTTP to a TLS port: the URL's scheme is wrong.
/// Not worth retrying, and worth saying in those words.
pub(super) fn protocol_mismatch(full: &str) -> Option<String> {
    let lower = full.to_ascii_lowercase();
    if lower.contains("invalidcontenttype")
        || lower.contains("corrupt message")
        || lower.contains("wrong version number")
    {
        Some(
            "TLS handshake failed: the server does not speak TLS at this address \
             (write the alias URL with http://, not https://)"
                .to_owned(),
        )
    } else if lower.contains("http request to an https server")
        || lower.contains("plain http request was sent to https port")
        || lower.contains("invalid http version parsed")
        || lower.contains("invalid http status-code parsed")
    {
        Some(
            "the server answered in TLS to plain HTTP: it speaks https \
             (write the alias URL with https://, not http://)"
                .to_owned(),
        )
    } else {
        None
    }
}

//! The job center: a page ferryd serves at `/` (HTML, CSS and a little JavaScript embedded in
//! the binary: no build step, no CDN), over the same API the CLI uses, kept live by
//! `GET /v1/events`.
//!
//! Signing in: with a token configured, the page's login form posts it once to `/ui/login`;
//! ferryd answers with a random session id in an `HttpOnly; SameSite=Strict` cookie and a CSRF
//! token the script keeps in memory. The token itself is never stored by the browser and never
//! put in a URL. Sessions live in ferryd's memory (a restart signs everyone out) and end after
//! [`IDLE`] unused.
//!
//! Cross-site requests: every state-changing request (any method but GET/HEAD) is refused when
//! the browser marks it cross-site (`Sec-Fetch-Site`) or its `Origin` is not the host it was
//! sent to; one authenticated by the cookie must also carry the session's CSRF token in
//! `X-Ferry-CSRF`. Without a token (loopback only), requests must be addressed to a loopback
//! name or address, so a DNS-rebinding page cannot reach the API either.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use crate::jobs::Daemon;

const INDEX: &str = include_str!("page/index.html");
const APP_JS: &str = include_str!("page/app.js");
const APP_CSS: &str = include_str!("page/app.css");

/// The session cookie's name.
pub const COOKIE: &str = "ferry_session";
/// The header carrying a cookie session's CSRF token.
pub const CSRF_HEADER: &str = "x-ferry-csrf";
/// A session unused this long ends.
pub const IDLE: Duration = Duration::from_secs(12 * 3600);
/// The most sessions kept; the least recently used goes first.
const MAX_SESSIONS: usize = 256;

/// Paths served without credentials: the page, its files, and signing in and out.
pub fn public(path: &str) -> bool {
    matches!(
        path,
        "/" | "/ui/app.js" | "/ui/app.css" | "/ui/login" | "/ui/logout" | "/ui/session"
    )
}

/// The signed-in browsers.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

#[derive(Debug)]
struct Session {
    csrf: String,
    last: Instant,
}

impl Sessions {
    /// Opens a session: its id (for the cookie) and its CSRF token.
    fn open(&self) -> Result<(String, String), getrandom::Error> {
        let (id, csrf) = (random_hex()?, random_hex()?);
        let mut m = crate::lock::lock(&self.map);
        m.retain(|_, s| s.last.elapsed() < IDLE);
        if m.len() >= MAX_SESSIONS
            && let Some(oldest) = m.iter().min_by_key(|(_, s)| s.last).map(|(k, _)| k.clone())
        {
            m.remove(&oldest);
        }
        m.insert(
            id.clone(),
            Session {
                csrf: csrf.clone(),
                last: Instant::now(),
            },
        );
        Ok((id, csrf))
    }

    /// A live session's CSRF token (and it counts as used now).
    pub fn check(&self, id: &str) -> Option<String> {
        let mut m = crate::lock::lock(&self.map);
        match m.get_mut(id) {
            Some(s) if s.last.elapsed() < IDLE => {
                s.last = Instant::now();
                Some(s.csrf.clone())
            }
            Some(_) => {
                m.remove(id);
                None
            }
            None => None,
        }
    }

    /// Whether a session is still open (without counting as use: a page left open does not
    /// keep its session alive by itself).
    pub fn alive(&self, id: &str) -> bool {
        crate::lock::lock(&self.map)
            .get(id)
            .is_some_and(|s| s.last.elapsed() < IDLE)
    }

    fn close(&self, id: &str) {
        crate::lock::lock(&self.map).remove(id);
    }
}

/// 32 random bytes as hex, from the operating system's generator.
fn random_hex() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)?;
    Ok(hex::encode(b))
}

/// Compares without stopping at the first differing byte.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The session id in a request's cookies, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// Why a state-changing request must be refused as cross-site, if it must.
pub fn cross_site(headers: &HeaderMap) -> Option<String> {
    let get = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site")
        && matches!(site, "cross-site" | "same-site")
    {
        return Some(format!(
            "cross-site request refused (Sec-Fetch-Site: {site}): use the page ferryd serves, or the API with a bearer token"
        ));
    }
    if let Some(origin) = get("origin") {
        let host = get("host").unwrap_or("");
        let from = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        if from != Some(host) {
            return Some(format!(
                "cross-site request refused: Origin {origin:?} is not this ferryd ({host:?})"
            ));
        }
    }
    None
}

/// Whether the request is addressed (`Host`) to a loopback name or address.
pub fn local_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        // HTTP/1.0 without Host: not from a browser.
        return true;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The page's routes (state: the daemon and the sessions).
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Daemon>: axum::extract::FromRef<S>,
    Arc<Sessions>: axum::extract::FromRef<S>,
{
    Router::new()
        .route(
            "/",
            get(|| async { asset(INDEX, "text/html; charset=utf-8") }),
        )
        .route(
            "/ui/app.js",
            get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/ui/app.css",
            get(|| async { asset(APP_CSS, "text/css; charset=utf-8") }),
        )
        .route("/ui/session", get(session))
        .route("/ui/login", post(login))
        .route("/ui/logout", post(logout))
}

/// The page allows its own files only: no inline script, no frames, no foreign origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(body: &'static str, kind: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `GET /ui/session`: whether the page must sign in, and the session's CSRF token when it is
/// signed in already (a reload keeps the session).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    /// This ferryd has a token: the page signs in.
    pub token_required: bool,
    /// The request carries a live session.
    pub signed_in: bool,
    /// The session's CSRF token (empty when not signed in).
    pub csrf: String,
}

async fn session(
    State(d): State<Arc<Daemon>>,
    State(s): State<Arc<Sessions>>,
    headers: HeaderMap,
) -> Json<SessionView> {
    let required = d.config.control.token.is_some();
    let csrf = session_cookie(&headers).and_then(|id| s.check(id));
    Json(SessionView {
        token_required: required,
        signed_in: !required || csrf.is_some(),
        csrf: csrf.unwrap_or_default(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    token: String,
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(super::api::ApiError {
            error: message.to_owned(),
        }),
    )
        .into_response()
}

/// `POST /ui/login` `{"token": …}`: a session cookie and its CSRF token, or 401.
async fn login(
    State(d): State<Arc<Daemon>>,
    State(s): State<Arc<Sessions>>,
    body: Bytes,
) -> Response {
    let Some(token) = &d.config.control.token else {
        return Json(SessionView {
            token_required: false,
            signed_in: true,
            csrf: String::new(),
        })
        .into_response();
    };
    let given = match serde_json::from_slice::<Login>(&body) {
        Ok(l) => l.token,
        Err(_) => return refuse(StatusCode::BAD_REQUEST, "sign in with {\"token\": \"…\"}"),
    };
    if !same_secret(given.trim().as_bytes(), token.as_bytes()) {
        tracing::warn!("job center: sign-in with a wrong token");
        return refuse(StatusCode::UNAUTHORIZED, "wrong token");
    }
    let (id, csrf) = match s.open() {
        Ok(v) => v,
        Err(e) => {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("no random numbers for a session: {e}"),
            );
        }
    };
    let cookie = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict");
    let mut r = Json(SessionView {
        token_required: true,
        signed_in: true,
        csrf,
    })
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `POST /ui/logout`: ends the session and clears the cookie.
async fn logout(State(s): State<Arc<Sessions>>, headers: HeaderMap) -> Response {
    if let Some(id) = session_cookie(&headers) {
        s.close(id);
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("ferry_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn cross_site_requests_are_told_apart_from_the_page_and_the_cli() {
        // The CLI and webhooks send neither header.
        assert_eq!(cross_site(&headers(&[("host", "127.0.0.1:7870")])), None);
        let page = headers(&[
            ("host", "127.0.0.1:7870"),
            ("origin", "http://127.0.0.1:7870"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(cross_site(&page), None);
        let other = headers(&[
            ("host", "127.0.0.1:7870"),
            ("origin", "http://evil.example"),
        ]);
        assert!(cross_site(&other).is_some_and(|m| m.contains("evil.example")));
        let port = headers(&[
            ("host", "127.0.0.1:7870"),
            ("origin", "http://127.0.0.1:8000"),
        ]);
        assert!(cross_site(&port).is_some());
        assert!(cross_site(&headers(&[("origin", "null")])).is_some());
        let marked = headers(&[("host", "127.0.0.1:7870"), ("sec-fetch-site", "cross-site")]);
        assert!(cross_site(&marked).is_some_and(|m| m.contains("Sec-Fetch-Site")));
    }

    #[test]
    fn only_loopback_hosts_count_as_local() {
        for h in [
            "127.0.0.1:7870",
            "localhost:7870",
            "[::1]:7870",
            "LOCALHOST",
            "127.0.0.2",
        ] {
            assert!(local_host(&headers(&[("host", h)])), "{h}");
        }
        for h in [
            "evil.example:7870",
            "10.0.0.1:7870",
            "[2001:db8::1]:7870",
            "localhost.evil",
        ] {
            assert!(!local_host(&headers(&[("host", h)])), "{h}");
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; ferry_session=abc; b=2")]);
        assert_eq!(session_cookie(&h), Some("abc"));
        assert_eq!(
            session_cookie(&headers(&[("cookie", "ferry_session=")])),
            None
        );
        assert_eq!(
            session_cookie(&headers(&[("cookie", "xferry_session=1")])),
            None
        );
    }

    #[test]
    fn sessions_open_check_and_close() {
        let s = Sessions::default();
        let (id, csrf) = s.open().expect("open");
        assert_eq!(id.len(), 64);
        assert_ne!(id, csrf);
        assert_eq!(s.check(&id), Some(csrf));
        assert!(s.alive(&id));
        s.close(&id);
        assert_eq!(s.check(&id), None);
        assert!(!s.alive(&id));
        for _ in 0..MAX_SESSIONS + 5 {
            s.open().expect("open");
        }
        assert_eq!(crate::lock::lock(&s.map).len(), MAX_SESSIONS);
    }
}

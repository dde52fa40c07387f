//! Output: mc's human formats, JSON lines, and the one error style.

use std::io::{self, Write};

use chrono::{DateTime, Utc};

/// Sizes as mc prints them (go-humanize's IBytes without the space): `0B`, `999B`, `1.2KiB`,
/// `23KiB`, `1.0GiB`.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 10 {
        return format!("{n}B");
    }
    let e = ((n as f64).ln() / 1024f64.ln()).floor() as usize;
    let e = e.min(UNITS.len() - 1);
    let val = ((n as f64) / 1024f64.powi(e as i32) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1}{}", UNITS[e])
    } else {
        format!("{val:.0}{}", UNITS[e])
    }
}

/// `1 object`, `2 objects`: a count with its noun, plural when it is not one.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `2025-01-02 10:11:12 UTC`
pub fn human_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// RFC 3339 with seconds, as mc's JSON.
pub fn json_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Writes a line to standard output. A closed pipe (`ferry ls | head`) surfaces as a
/// `BrokenPipe` error, which `main` treats as success.
pub fn line(s: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(s.as_bytes())?;
    out.write_all(b"\n")
}

/// Writes one JSON object as a line.
pub fn json(v: &serde_json::Value) -> io::Result<()> {
    line(&v.to_string())
}

/// Renders an error and its causes on one line, dropping repeated text.
pub fn error_line(err: &anyhow::Error) -> String {
    ferry_engine::backend::error::display_chain(err.as_ref())
}

/// Writes a failure as mc's JSON does: `{"status":"error", FIELDS…, "error":{"message":…}}`.
pub fn json_error(mut fields: serde_json::Value, err: &anyhow::Error) -> io::Result<()> {
    fields["status"] = "error".into();
    fields["error"] = serde_json::json!({ "message": error_line(err) });
    json(&fields)
}

/// Prints `ferry: <ERROR> message` to standard error; with `--json`, mc's error object
/// (`{"status":"error","error":{"message":…}}`) on standard output instead, so that a script
/// reading JSON lines gets its errors in the same stream and form.
pub fn print_error(err: &anyhow::Error, json: bool) {
    if json && json_error(serde_json::json!({}), err).is_ok() {
        return;
    }
    eprintln!("ferry: <ERROR> {}", error_line(err));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_say_one_object_and_two_objects() {
        assert_eq!(count(1u64, "object"), "1 object");
        assert_eq!(count(0u64, "object"), "0 objects");
        assert_eq!(count(2u32, "backup"), "2 backups");
    }

    #[test]
    fn sizes_match_mc() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(9), "9B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1234), "1.2KiB");
        assert_eq!(human_size(24_000), "23KiB");
        assert_eq!(human_size(1024 * 1024), "1.0MiB");
        assert_eq!(human_size(2 * 1024 * 1024 * 1024), "2.0GiB");
    }
}

//! Values with units: durations (`30s`, `1h 30m`) and byte rates (`50MiB/s`).

use std::time::Duration;

/// A value that does not parse, and how to write it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadValue(String);

/// Parses a duration such as `30s`, `5m`, `1h 30m`, `500ms`.
pub fn parse_duration(s: &str) -> Result<Duration, BadValue> {
    humantime::parse_duration(s.trim())
        .map_err(|e| BadValue(format!("{e} (e.g. \"30s\", \"5m\", \"1h\")")))
}

/// Parses a size such as `10MiB`, `1.5GB`, `800KiB`, `1000000` (bytes).
pub fn parse_size(s: &str) -> Result<u64, BadValue> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        BadValue(format!(
            "{s:?} is not a size (e.g. \"50MiB\", \"1GB\", \"4096\")"
        ))
    })?;
    let mult: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        u => {
            return Err(BadValue(format!(
                "unknown unit {u:?} in {s:?} (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
            )));
        }
    };
    let v = n * mult;
    if !v.is_finite() || v >= u64::MAX as f64 {
        return Err(BadValue(format!("{s:?}: too large")));
    }
    Ok(v as u64)
}

/// Parses a byte rate such as `50MiB`, `1.5GB`, `800KiB/s`, `1000000`.
pub fn parse_rate(s: &str) -> Result<u64, BadValue> {
    let t = s.trim();
    let t = t.strip_suffix("/s").unwrap_or(t).trim();
    let v = parse_size(t)
        .map_err(|_| BadValue(format!("{s:?} is not a rate (e.g. \"50MiB/s\", \"1GB/s\")")))?;
    if v < 1024 {
        return Err(BadValue(format!("{s:?}: at least 1KiB/s")));
    }
    Ok(v)
}

//! Wall-clock time as the manifest stores it: milliseconds since the Unix epoch.
//!
//! Records carry wall-clock times for people (when a backup was verified, a restore ended);
//! deadlines and waits use `std::time::Instant`, which a clock step cannot move.

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

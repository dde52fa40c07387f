//! One retry policy for everything ferry tries again: exponential backoff with jitter.
//!
//! | user | first delay | cap | jitter |
//! |---|---|---|---|
//! | a whole object's copy ([`crate::sync::transfer`]) | `TransferConfig::backoff` (200 ms) | 2^10 × first | +0..50 % |
//! | a ferryd job after a failed run, a restore's retry | 1 s | 300 s | ±25 % |
//!
//! Single S3 requests are retried by the SDK itself (its standard policy); this is for the
//! work around them. The jitter comes from a [`fastrand::Rng`]: seeded in tests, so that a
//! test can know the delays it will see.

use std::sync::Mutex;
use std::time::Duration;

/// Exponential backoff: `first × 2^(attempt)` up to `max`, then scaled by a factor drawn from
/// `[jitter_low, jitter_high)`.
#[derive(Debug)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    jitter_low: f64,
    jitter_high: f64,
    rng: Mutex<fastrand::Rng>,
}

impl Backoff {
    /// `first` doubling per attempt up to `max`, each delay scaled by a factor in
    /// `[jitter_low, jitter_high)`.
    pub fn new(first: Duration, max: Duration, jitter_low: f64, jitter_high: f64) -> Self {
        Backoff {
            first,
            max,
            jitter_low,
            jitter_high: jitter_high.max(jitter_low),
            rng: Mutex::new(fastrand::Rng::new()),
        }
    }

    /// ferryd's policy for failed runs and restores: 1 s, 2 s, 4 s … up to 300 s, each ±25 %.
    pub fn daemon() -> Self {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(300), 0.75, 1.25)
    }

    /// A whole object's copy: `first` doubling (at most 2^10 times), plus up to half again.
    pub fn transfer(first: Duration) -> Self {
        Backoff::new(first, first.saturating_mul(1 << 10), 1.0, 1.5)
    }

    /// The same policy with a seeded RNG: the same delays every time.
    pub fn seeded(self, seed: u64) -> Self {
        Backoff {
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
            ..self
        }
    }

    /// The delay before retry number `attempt` (0 = the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self
            .first
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max);
        // A poisoned lock only means another thread panicked while drawing: the RNG is fine.
        let unit = crate::lock::lock(&self.rng).f64();
        base.mul_f64(self.jitter_low + unit * (self.jitter_high - self.jitter_low))
    }
}

/// ferryd's delay after `failures` consecutive failures (1 = the first): [`Backoff::daemon`].
pub fn daemon_delay(failures: u32) -> Duration {
    static POLICY: std::sync::OnceLock<Backoff> = std::sync::OnceLock::new();
    POLICY
        .get_or_init(Backoff::daemon)
        .delay(failures.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_within_the_jitter() {
        let b = Backoff::daemon().seeded(7);
        for attempt in 0..12 {
            let base = Duration::from_secs(1 << attempt).min(Duration::from_secs(300));
            let d = b.delay(attempt);
            assert!(
                d >= base.mul_f64(0.75) && d < base.mul_f64(1.25),
                "{attempt}: {d:?}"
            );
        }
        let t = Backoff::transfer(Duration::from_millis(200)).seeded(1);
        let d = t.delay(0);
        assert!(
            d >= Duration::from_millis(200) && d < Duration::from_millis(300),
            "{d:?}"
        );
        assert!(t.delay(40) < Duration::from_millis(200 * 1024 * 3 / 2));
    }

    #[test]
    fn a_seed_gives_the_same_delays() {
        let a = Backoff::daemon().seeded(42);
        let b = Backoff::daemon().seeded(42);
        let da: Vec<_> = (0..8).map(|i| a.delay(i)).collect();
        let db: Vec<_> = (0..8).map(|i| b.delay(i)).collect();
        assert_eq!(da, db);
        assert!(da.windows(2).any(|w| w[0] != w[1]));
    }
}

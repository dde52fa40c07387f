//! Mutexes whose holder panicked: the data is taken over, not skipped.
//!
//! Every mutex in the engine guards data that each critical section leaves consistent (a
//! counter, a set, a queue of requests); a panic in another thread is reported by that
//! thread's task. Skipping the data instead (`if let Ok(..) = m.lock()`) would lose a
//! request or a count silently.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, taking over a poisoned lock.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

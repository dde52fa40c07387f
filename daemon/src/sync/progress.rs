//! Objects being copied now, with bytes done of their size: what `ferry status` shows while a
//! large object is on its way, instead of nothing until the run ends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The copies in flight of one job (or one command).
#[derive(Debug, Default)]
pub struct InFlight {
    copies: Mutex<BTreeMap<String, (u64, u64)>>,
}

/// One copy in flight: adds bytes as they are stored; leaves the list when dropped.
#[derive(Debug)]
pub struct Copying {
    list: Arc<InFlight>,
    key: String,
}

impl InFlight {
    /// Starts showing a copy of `size` bytes to `key`.
    pub fn start(self: &Arc<Self>, key: &str, size: u64) -> Copying {
        crate::lock::lock(&self.copies).insert(key.to_owned(), (0, size));
        Copying {
            list: self.clone(),
            key: key.to_owned(),
        }
    }

    /// Each copy: key, bytes stored, size.
    pub fn snapshot(&self) -> Vec<(String, u64, u64)> {
        crate::lock::lock(&self.copies)
            .iter()
            .map(|(k, (done, size))| (k.clone(), *done, *size))
            .collect()
    }
}

impl Copying {
    /// `n` more bytes are stored.
    pub fn add(&self, n: u64) {
        if let Some(c) = crate::lock::lock(&self.list.copies).get_mut(&self.key) {
            c.0 = (c.0 + n).min(c.1);
        }
    }
}

impl Drop for Copying {
    fn drop(&mut self) {
        crate::lock::lock(&self.list.copies).remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_show_bytes_done_until_dropped() {
        let list = Arc::new(InFlight::default());
        let c = list.start("a/b", 10);
        c.add(4);
        c.add(40);
        assert_eq!(list.snapshot(), vec![("a/b".to_owned(), 10, 10)]);
        drop(c);
        assert!(list.snapshot().is_empty());
    }
}

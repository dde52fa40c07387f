//! One end of a mirror or a diff: a store and a prefix inside it.

use std::sync::Arc;

use crate::backend::ObjectStore;

/// One end of a mirror.
#[derive(Debug, Clone)]
pub struct Side {
    pub store: Arc<dyn ObjectStore>,
    /// Prefix inside it: empty, or ending with `/`.
    pub prefix: String,
}

impl Side {
    /// `url/prefix`, the manifest's name for this end.
    pub fn url(&self) -> String {
        format!("{}/{}", self.store.url(), self.prefix)
    }

    /// A relative key as messages show it (`store/prefix/rel`).
    pub fn display(&self, rel: &str) -> String {
        format!("{}/{}{rel}", self.store, self.prefix)
    }

    /// The store key of a relative key.
    pub fn key(&self, rel: &str) -> String {
        format!("{}{rel}", self.prefix)
    }
}

//! The control API's client (`ferry status|sync|pause|resume|restore`): the JSON client of
//! [`crate::http`] pointed at ferryd.

pub use crate::http::{Client, ClientError};

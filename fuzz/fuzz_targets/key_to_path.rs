//! Any key a local folder accepts maps to a path strictly inside that folder: only normal
//! components (no `..`, `.`, root or empty), no NUL, no component over 255 bytes, none of
//! ferry's temporary names; and a refused key is refused without a panic.
#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;

#[path = "../../daemon/src/backend/keys.rs"]
mod keys;

fuzz_target!(|data: &[u8]| {
    let Ok(key) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rel) = keys::check_key(key) else {
        return;
    };
    assert!(key.starts_with(rel), "{key:?} -> {rel:?}");
    assert!(!rel.is_empty() && !rel.contains('\0'));
    let root = Path::new("/srv/ferry-root");
    let joined = root.join(rel);
    assert!(joined.starts_with(root), "{key:?} escapes: {joined:?}");
    let mut n = 0;
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(name) => {
                let name = name.to_str().expect("utf-8 in, utf-8 out");
                assert!(name.len() <= 255, "{key:?}: long component");
                assert!(!name.starts_with(keys::TEMP_PREFIX), "{key:?}: temp name");
                n += 1;
            }
            other => panic!("{key:?} maps to a path with {other:?}"),
        }
    }
    // Path::components folds `a//b` and `a/./b`; check_key must have refused those already.
    assert_eq!(n, rel.split('/').count(), "{key:?}: folded segments");
});

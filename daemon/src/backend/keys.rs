//! Which keys a local folder accepts, and the relative path each maps to. Plain `std`, no
//! I/O: the fuzz target `fuzz/fuzz_targets/key_to_path.rs` compiles this file on its own.

/// File names starting with this are ferry's in-flight temporary files: never listed, never
/// accepted as keys.
pub const TEMP_PREFIX: &str = ".ferry-tmp-";

/// Validates a key and returns it as a relative path (without a trailing `/`).
pub fn check_key(key: &str) -> std::result::Result<&str, &'static str> {
    if key.is_empty() {
        return Err("empty key");
    }
    if key.contains('\0') {
        return Err("contains a NUL byte");
    }
    if key.starts_with('/') {
        return Err("absolute keys are not allowed");
    }
    let rel = key.strip_suffix('/').unwrap_or(key);
    if rel.is_empty() {
        return Err("empty key");
    }
    for seg in rel.split('/') {
        match seg {
            "" => return Err("empty path segment (`//`)"),
            "." => return Err("`.` segment"),
            ".." => return Err("`..` segment escapes the root"),
            s if s.starts_with(TEMP_PREFIX) => {
                return Err("name reserved for ferry's temporary files");
            }
            s if s.len() > 255 => return Err("path segment longer than 255 bytes"),
            _ => {}
        }
    }
    Ok(rel)
}

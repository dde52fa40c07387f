//! What a run may touch: include/exclude patterns and the cap on deletions.

/// A `--max-delete` / `max_delete` value that is neither a count nor a percentage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: expected a count (100) or a percentage (10%)")]
pub struct BadMaxDelete(pub String);

/// A cap on deletions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxDelete {
    /// At most this many objects.
    Count(u64),
    /// At most this share (0–100) of the objects the target had.
    Percent(f64),
}

impl MaxDelete {
    /// Parses `N` (a count) or `P%` (a share of the target's objects).
    pub fn parse(v: &str) -> Result<MaxDelete, BadMaxDelete> {
        let bad = || BadMaxDelete(v.to_owned());
        match v.trim().strip_suffix('%') {
            Some(p) => {
                let p: f64 = p.trim().parse().map_err(|_| bad())?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(bad());
                }
                Ok(MaxDelete::Percent(p))
            }
            None => v
                .trim()
                .parse::<u64>()
                .map(MaxDelete::Count)
                .map_err(|_| bad()),
        }
    }
}

/// Compiles include/exclude patterns, matched against keys relative to the mirrored prefix
/// (`*` also crosses `/`, as in mc and rclone filters).
pub fn glob_set(patterns: &[String]) -> Result<globset::GlobSet, globset::Error> {
    let mut b = globset::GlobSetBuilder::new();
    for p in patterns {
        b.add(
            globset::GlobBuilder::new(p)
                .literal_separator(false)
                .build()?,
        );
    }
    b.build()
}

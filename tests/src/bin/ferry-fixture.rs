//! Writes a generated milvus-backup backup into a folder, for scripts (the demo, benchmarks).
//!
//! `ferry-fixture ROOT NAME [VERSION] [SEED] [SEGMENTS] [BIG_BYTES]`: VERSION is one of v0.3.0,
//! v0.4.5, v0.5.3, v0.5.12 (default), snapshot; BIG_BYTES adds one sparse binlog of that size
//! (e.g. 6442450944 for a 6 GiB one, beyond a single PUT). Files are written in milvus-backup's order (binlogs
//! first, meta last). Prints the backup's id, file count and rows.

use ferry_tests::milvus::{Backup, Spec, Version};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(root), Some(name)) = (args.first(), args.get(1)) else {
        eprintln!(
            "usage: ferry-fixture ROOT NAME [v0.3.0|v0.4.5|v0.5.3|v0.5.12|snapshot] [SEED] [SEGMENTS]"
        );
        std::process::exit(2);
    };
    let version = match args.get(2).map_or("v0.5.12", String::as_str) {
        "v0.3.0" => Version::V0_3_0,
        "v0.4.5" => Version::V0_4_5,
        "v0.5.3" => Version::V0_5_3,
        "v0.5.12" => Version::V0_5_12,
        "snapshot" => Version::Snapshot,
        other => {
            eprintln!("ferry-fixture: unknown version {other:?}");
            std::process::exit(2);
        }
    };
    let number = |i: usize, default: u64| match args.get(i).map(|s| s.parse::<u64>()) {
        None => default,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("ferry-fixture: argument {} is not a number", i + 1);
            std::process::exit(2);
        }
    };
    let mut spec = Spec::small(name, version, number(3, 1));
    spec.segments = u32::try_from(number(4, 3)).unwrap_or(3);
    spec.big = Some(number(5, 0)).filter(|b| *b > 0);
    let b = Backup::generate(&spec);
    b.write(std::path::Path::new(root));
    println!(
        "{} {} files {} rows",
        b.id,
        b.files().len() + b.sparse.len(),
        b.rows
    );
}

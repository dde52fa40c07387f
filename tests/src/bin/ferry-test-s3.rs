//! A standalone S3 server for scripts (benchmarks, the RSS measurement): s3s + s3s-fs serving
//! a folder, with SigV4 checked against one key pair. Prints its URL, then serves until killed.
//!
//! `ferry-test-s3 ROOT [BIND] [ACCESS_KEY SECRET_KEY]` (BIND defaults to 127.0.0.1:0).

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(root) = args.first() else {
        eprintln!("usage: ferry-test-s3 ROOT [BIND] [ACCESS_KEY SECRET_KEY]");
        std::process::exit(2);
    };
    let bind = args.get(1).map_or("127.0.0.1:0", String::as_str);
    let ak = args.get(2).map_or("AKIAFERRYSCRIPT", String::as_str);
    let sk = args.get(3).map_or("ferry-script-secret", String::as_str);
    if let Err(e) = std::fs::create_dir_all(root) {
        eprintln!("ferry-test-s3: cannot create {root}: {e}");
        std::process::exit(1);
    }
    let server =
        ferry_tests::s3s_server::S3sServer::start_at(std::path::Path::new(root), bind, ak, sk);
    println!("{}", server.url());
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

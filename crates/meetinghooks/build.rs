//! Build script: `cfg(has_postgres)` when `TEST_POSTGRES_URL` is set, so tests that need a
//! PostgreSQL are counted as ignored, not passed, when there is none.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(has_postgres)");
    println!("cargo::rerun-if-env-changed=TEST_POSTGRES_URL");
    // Only the environment matters: no source file reruns this script.
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("TEST_POSTGRES_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=has_postgres");
    }
}

//! Chooses the folder the web client is embedded from.
//!
//! The browser client is built by `npm run build --prefix web-client` into `web-client/dist`.
//! When that build is missing (a fresh clone, or `cargo test` alone) the binary embeds
//! `server/fallback/` instead, a page that says how to build the client, so the crate always
//! builds and tests. The choice reaches `#[folder = "$PERUDO_WEB_DIR"]` in `src/web.rs`
//! through rust-embed's `interpolate-folder-path` feature.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let web_client = manifest.join("../web-client");
    let dist = web_client.join("dist");
    let (folder, built) = if dist.join("index.html").is_file() {
        (dist.clone(), true)
    } else {
        (manifest.join("fallback"), false)
    };
    // Rerun when the client is (re)built: watch dist when it exists (any file in it), else the
    // web-client folder, whose contents change when dist appears. A missing path would make
    // cargo rerun this script on every build.
    if built {
        println!("cargo:rerun-if-changed={}", dist.display());
    } else if web_client.is_dir() {
        println!("cargo:rerun-if-changed={}", web_client.display());
        println!("cargo:rerun-if-changed=fallback");
    } else {
        println!("cargo:rerun-if-changed=fallback");
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-env=PERUDO_WEB_DIR={}", folder.display());
    println!(
        "cargo:rustc-env=PERUDO_WEB_CLIENT_BUILT={}",
        if built { "1" } else { "0" }
    );
    if !built {
        println!(
            "cargo:warning=web-client/dist is missing: embedding the fallback page (build the client with `npm ci --prefix web-client && npm run build --prefix web-client`)"
        );
    }
}

//! Chooses the folder the web client is embedded from, and records what is being built
//! (the git revision and the build date) for `perudo --version` and `perudo_build_info`.
//!
//! The browser client is built by `npm run build --prefix web-client` into `web-client/dist`.
//! When that build is missing (a fresh clone, or `cargo test` alone) the binary embeds
//! `server/fallback/` instead, a page that says how to build the client, so the crate always
//! builds and tests. The choice reaches `#[folder = "$PERUDO_WEB_DIR"]` in `src/web.rs`
//! through rust-embed's `interpolate-folder-path` feature.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    embed_web_client();
    build_info();
}

/// `PERUDO_GIT_REVISION` (the abbreviated hash of the commit checked out; `unknown` without
/// git or outside a checkout, as in a source tarball) and `PERUDO_BUILD_DATE` (UTC, `YYYY-MM-DD`; from `SOURCE_DATE_EPOCH` when set, so
/// a reproducible build can pin it).
fn build_info() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git")
            .arg("-C")
            .arg(&manifest)
            .args(args)
            .output()
            .ok()?;
        if !output.status.success() {
            return None;
        }
        let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
        (!text.is_empty()).then_some(text)
    };
    let revision = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // Rerun when HEAD moves: HEAD itself (a checkout), the branch's ref (a commit) and the
    // packed refs, wherever this checkout (or worktree) keeps them. Without git there is
    // nothing to watch.
    let git_path = |name: &str| {
        git(&["rev-parse", "--git-path", name])
            .map(|p| manifest.join(p))
            .filter(|p| p.exists())
    };
    for name in ["HEAD", "packed-refs"] {
        if let Some(path) = git_path(name) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(path) = git_path(&branch)
    {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    println!("cargo:rustc-env=PERUDO_GIT_REVISION={revision}");
    println!("cargo:rustc-env=PERUDO_BUILD_DATE={}", civil_date(seconds));
}

/// The UTC calendar date of a Unix time, `YYYY-MM-DD` (Howard Hinnant's `civil_from_days`).
fn civil_date(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn embed_web_client() {
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

//! scripts/release.sh's arguments and its refusals, without building anything: every missing
//! prerequisite is named with what supplies it, and nothing is built when one is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/release.sh")
}

/// `bash scripts/release.sh <args>` with extra environment: (exit code, stdout, stderr).
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new("bash")
        .arg(script())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run bash");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[track_caller]
fn assert_refused(args: &[&str], env: &[(&str, &str)], message: &str) {
    let (code, stdout, stderr) = run(args, env);
    assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
    assert!(
        stderr.contains(&format!("release.sh: error: {message}")),
        "{args:?}: {stderr}"
    );
    assert!(
        !stdout.contains("=="),
        "{args:?} started building: {stdout}"
    );
}

#[test]
fn release_script_arguments_and_refusals() {
    let (code, stdout, _) = run(&["--help"], &[]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("usage: scripts/release.sh"), "{stdout}");

    assert_refused(&["--frobnicate"], &[], "unknown argument: --frobnicate");
    assert_refused(&["--out"], &[], "--out needs a directory");
    assert_refused(&["--target"], &[], "--target needs a target triple");
    assert_refused(
        &["--target", "x86_64-unknown-linux-gnu", "--check"],
        &[],
        "x86_64-unknown-linux-gnu is not a target this script builds",
    );

    // A missing Rust std for the target: a rustup that knows only the host's.
    let only_host = FakeRustup::new("host", &["x86_64-unknown-linux-gnu"]);
    assert_refused(
        &["--target", "x86_64-unknown-linux-musl", "--check"],
        &[("PATH", &only_host.path)],
        "the Rust standard library for x86_64-unknown-linux-musl is not installed: \
         rustup target add x86_64-unknown-linux-musl",
    );

    // A C compiler named that is not there.
    let both = FakeRustup::new(
        "both",
        &["aarch64-unknown-linux-musl", "x86_64-unknown-linux-musl"],
    );
    assert_refused(
        &["--target", "aarch64-unknown-linux-musl", "--check"],
        &[
            ("PATH", &both.path),
            (
                "CC_aarch64_unknown_linux_musl",
                "/nonexistent/aarch64-linux-musl-gcc",
            ),
        ],
        "CC_aarch64_unknown_linux_musl=/nonexistent/aarch64-linux-musl-gcc is not an executable",
    );
}

/// A directory with a `rustup` whose `target list --installed` prints `targets`, and a
/// `PATH` that finds it first.
struct FakeRustup {
    dir: PathBuf,
    path: String,
}

impl FakeRustup {
    fn new(name: &str, targets: &[&str]) -> FakeRustup {
        let dir =
            std::env::temp_dir().join(format!("perudo-release-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let rustup = dir.join("rustup");
        std::fs::write(
            &rustup,
            format!("#!/bin/sh\nprintf '%s\\n' {}\n", targets.join(" ")),
        )
        .expect("write the fake rustup");
        std::fs::set_permissions(&rustup, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod the fake rustup");
        let path = format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        FakeRustup { dir, path }
    }
}

impl Drop for FakeRustup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

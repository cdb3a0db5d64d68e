//! What this binary is: the release version (the workspace's, in Cargo.toml), the git
//! revision it was built from and the build date, both recorded by `build.rs`.
//! `perudo --version` prints them and `/metrics` exports them as `perudo_build_info`.

/// The release version, e.g. `0.9.0` (CHANGELOG.md).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The abbreviated git commit hash, or `unknown` when built outside a git checkout.
pub const REVISION: &str = env!("PERUDO_GIT_REVISION");
/// The UTC date of the build, `YYYY-MM-DD` (`SOURCE_DATE_EPOCH` when that was set).
pub const BUILD_DATE: &str = env!("PERUDO_BUILD_DATE");
/// What `perudo --version` prints after the program's name.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("PERUDO_GIT_REVISION"),
    ", built ",
    env!("PERUDO_BUILD_DATE"),
    ")"
);

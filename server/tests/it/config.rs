//! The settings of `perudo serve`: precedence of flag, environment variable, config file and
//! default; errors for bad files and bad values; docs/CONFIG.md and the example file kept true;
//! JSON logs.
//!
//! Whatever reads environment variables runs the real binary with a controlled environment
//! (a test cannot set its own process's environment safely); the rest parses in process.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use perudo_server::config::{self, Source};

const BIN: &str = env!("CARGO_BIN_EXE_perudo");

/// The workspace root (docs/CONFIG.md and perudo.example.toml live there).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the server crate is in the workspace")
        .to_path_buf()
}

/// A config file with `text`, in a directory of its own.
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn new(name: &str, text: &str) -> ConfigFile {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "perudo-config-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        let path = dir.join("perudo.toml");
        std::fs::write(&path, text).expect("write the config file");
        ConfigFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `perudo serve <args> --check-config` with exactly the `PERUDO_*` variables in `env`.
fn check_config(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command.arg("serve").args(args).arg("--check-config");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PERUDO_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command.output().expect("run the perudo binary")
}

/// The `key = value  # source` lines of `--check-config`, by key.
fn effective(args: &[&str], env: &[(&str, &str)]) -> BTreeMap<String, (String, String)> {
    let output = check_config(args, env);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "--check-config failed: {}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let (setting, source) = line.split_once(" # ").expect("a source comment");
            let (key, value) = setting.split_once(" = ").expect("key = value");
            (
                key.trim().to_string(),
                (value.trim().to_string(), source.trim().to_string()),
            )
        })
        .collect()
}

/// The error `perudo serve <args>` exits with, given `PERUDO_*` variables `env`.
fn start_error(args: &[&str], env: &[(&str, &str)]) -> String {
    let output = check_config(args, env);
    assert!(!output.status.success(), "perudo serve {args:?} started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
fn assert_setting(
    settings: &BTreeMap<String, (String, String)>,
    key: &str,
    value: &str,
    source: &str,
) {
    let (got_value, got_source) = settings
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {settings:?}"));
    assert_eq!(
        (got_value.as_str(), got_source.as_str()),
        (value, source),
        "{key}"
    );
}

/// `max_rooms` is a plain setting of `serve`; `db` is in the flattened storage group.
#[test]
fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
    let file = ConfigFile::new("precedence", "max_rooms = 300\ndb = \"file.db\"\n");
    let from_file = format!("the config file {}", file.path());

    let defaults = effective(&[], &[]);
    assert_setting(&defaults, "max_rooms", "10000", "the default");
    assert_setting(&defaults, "db", "\"perudo.db\"", "the default");

    let filed = effective(&["--config", file.path()], &[]);
    assert_setting(&filed, "max_rooms", "300", &from_file);
    assert_setting(&filed, "db", "\"file.db\"", &from_file);
    assert_setting(&filed, "bot_delay_ms", "800", "the default");

    let env = [("PERUDO_MAX_ROOMS", "200"), ("PERUDO_DB", "env.db")];
    let by_env = effective(&["--config", file.path()], &env);
    assert_setting(
        &by_env,
        "max_rooms",
        "200",
        "the environment variable PERUDO_MAX_ROOMS",
    );
    assert_setting(
        &by_env,
        "db",
        "\"env.db\"",
        "the environment variable PERUDO_DB",
    );

    let by_flag = effective(
        &[
            "--config",
            file.path(),
            "--max-rooms",
            "100",
            "--db=flag.db",
        ],
        &env,
    );
    assert_setting(&by_flag, "max_rooms", "100", "the flag --max-rooms");
    assert_setting(&by_flag, "db", "\"flag.db\"", "the flag --db");
}

#[test]
fn the_config_file_may_be_named_by_the_environment() {
    let file = ConfigFile::new("by-env", "max_rooms = 300\n");
    let settings = effective(&[], &[("PERUDO_CONFIG", file.path())]);
    assert_setting(
        &settings,
        "max_rooms",
        "300",
        &format!("the config file {}", file.path()),
    );
}

#[test]
fn check_config_prints_a_config_file_that_reads_back_the_same() {
    let file = ConfigFile::new("round-trip", "max_rooms = 300\nlog_format = \"json\"\n");
    let output = check_config(
        &[
            "--config",
            file.path(),
            "--db",
            "x.db",
            "--db-max-pages",
            "9",
        ],
        &[],
    );
    assert!(output.status.success());
    let printed = ConfigFile::new("printed", &String::from_utf8_lossy(&output.stdout));
    let parsed = config::parse_from(["perudo", "serve", "--config", printed.path()])
        .expect("the printed settings parse");
    let values: BTreeMap<&str, &[String]> = parsed
        .settings
        .iter()
        .filter(|s| s.key != "config")
        .map(|s| (s.key.as_str(), s.values.as_slice()))
        .collect();
    assert_eq!(values["max_rooms"], ["300"]);
    assert_eq!(values["log_format"], ["json"]);
    assert_eq!(values["db"], ["x.db"]);
    assert_eq!(values["db_max_pages"], ["9"]);
    assert_eq!(values["public_url"], [] as [String; 0]);
}

#[test]
fn an_unknown_key_is_an_error_naming_it_and_the_file() {
    let file = ConfigFile::new("unknown", "max_rooms = 5\nmax_roms = 5\n");
    let error = config::parse_from(["perudo", "serve", "--config", file.path()])
        .expect_err("an unknown key")
        .to_string();
    assert!(error.contains("unknown setting `max_roms`"), "{error}");
    assert!(error.contains(file.path()), "{error}");

    let kebab = ConfigFile::new("kebab", "max-rooms = 5\n");
    let error = config::parse_from(["perudo", "serve", "--config", kebab.path()])
        .expect_err("a flag name as key")
        .to_string();
    assert!(error.contains("did you mean `max_rooms`?"), "{error}");

    // The file cannot name another file, and a flag that is no setting is no key.
    for key in ["config = \"other.toml\"", "check_config = true"] {
        let file = ConfigFile::new("not-a-key", key);
        let error = config::parse_from(["perudo", "serve", "--config", file.path()])
            .expect_err(key)
            .to_string();
        assert!(error.contains("unknown setting"), "{error}");
    }
}

#[test]
fn a_value_of_the_wrong_type_is_an_error_naming_the_key() {
    for (text, expected) in [
        (
            "max_rooms = \"500\"",
            "sets `max_rooms` to a string, but it must be an integer",
        ),
        (
            "listen = 8080",
            "sets `listen` to an integer, but it must be a string",
        ),
        (
            "db = [\"a.db\"]",
            "sets `db` to an array, but it must be a string",
        ),
    ] {
        let file = ConfigFile::new("type", text);
        let error = config::parse_from(["perudo", "serve", "--config", file.path()])
            .expect_err(text)
            .to_string();
        assert!(error.contains(expected), "{text}: {error}");
        assert!(error.contains(file.path()), "{error}");
    }
}

#[test]
fn an_unreadable_or_malformed_file_is_an_error_naming_it() {
    let missing = std::env::temp_dir().join("perudo-config-there-is-no-such-file.toml");
    let missing = missing.to_str().expect("a UTF-8 temp path");
    let error = config::parse_from(["perudo", "serve", "--config", missing])
        .expect_err("a missing file")
        .to_string();
    assert!(
        error.contains(&format!("cannot read the config file {missing}")),
        "{error}"
    );

    let file = ConfigFile::new("malformed", "max_rooms = \n");
    let error = config::parse_from(["perudo", "serve", "--config", file.path()])
        .expect_err("not TOML")
        .to_string();
    assert!(
        error.contains(&format!(
            "the config file {} is not valid TOML",
            file.path()
        )),
        "{error}"
    );
    assert!(error.contains("line 1"), "{error}");
}

#[test]
fn an_out_of_range_value_names_the_setting_its_source_and_the_range() {
    let file = ConfigFile::new("range", "max_rooms = 0\n");
    let error = config::parse_from(["perudo", "serve", "--config", file.path()])
        .expect_err("max_rooms 0 in the file")
        .to_string();
    assert!(
        error.contains(&format!(
            "invalid value 0 for `max_rooms` (--max-rooms) in the config file {}: 0 is not in 1..=10000000",
            file.path()
        )),
        "{error}"
    );

    let error = config::parse_from(["perudo", "serve", "--reveal-pause-ms", "60001"])
        .expect_err("a long reveal pause")
        .to_string();
    assert!(
        error.contains(
            "invalid value '60001' for the flag --reveal-pause-ms: 60001 is not in 0..=60000"
        ),
        "{error}"
    );

    let error = start_error(&[], &[("PERUDO_GAME_RETENTION_DAYS", "0")]);
    assert!(
        error.contains(
            "invalid value '0' for the environment variable PERUDO_GAME_RETENTION_DAYS \
             (--game-retention-days): 0 is not in 1..=36500"
        ),
        "{error}"
    );

    // An enum names its values; a bad value is an error also where a flag overrides it.
    let file = ConfigFile::new("enum", "storage = \"disk\"\n");
    let error = start_error(&["--config", file.path(), "--storage", "memory"], &[]);
    assert!(
        error.contains("invalid value \"disk\" for `storage` (--storage) in the config file")
            && error.contains("possible values: sqlite, memory"),
        "{error}"
    );
}

/// What `perudo serve <args>` (no `--check-config`) prints when it refuses to start; fails
/// the test if it is still running after 10 s (it started: the check let the values through).
fn serve_refusal(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--storage", "memory"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PERUDO_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    let mut server = Server(command.spawn().expect("start perudo"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.0.try_wait().expect("poll perudo") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "perudo serve {args:?} {env:?} is serving"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "perudo serve {args:?} exited 0");
    let mut stderr = String::new();
    std::io::Read::read_to_string(
        &mut server.0.stderr.take().expect("piped stderr"),
        &mut stderr,
    )
    .expect("read perudo's stderr");
    stderr
}

/// `--check-config` and `serve` run the same validation: settings each fine alone but that the
/// server cannot run with are refused by both, with the same message.
#[test]
fn check_config_refuses_what_serve_refuses() {
    type Env<'a> = &'a [(&'a str, &'a str)];
    let cases: [(&[&str], Env, &str); 3] = [
        // An origin is a scheme and a host, not a bare host name.
        (
            &[],
            &[("PERUDO_ALLOWED_ORIGINS", "perudo.example.org")],
            "invalid settings: allowed-origins must be like https://example.org, got \"perudo.example.org\"",
        ),
        // Healthy clients would be closed between two pings (every 20 s by default).
        (
            &["--idle-timeout-secs", "10"],
            &[],
            "invalid settings: idle-timeout-secs must be longer than ping-interval-secs (20s), got 10s",
        ),
        (
            &[],
            &[("PERUDO_PUBLIC_URL", "perudo.example.org")],
            "invalid settings: public-url must be like https://perudo.example.org, got \"perudo.example.org\"",
        ),
    ];
    for (args, env, message) in cases {
        let checked = start_error(args, env);
        assert!(checked.contains(message), "--check-config said: {checked}");
        let served = serve_refusal(args, env);
        assert!(served.contains(message), "serve said: {served}");
        assert_eq!(checked, served, "{args:?} {env:?}");
    }
    // And what both accept, serve starts with (`effective` asserts the check passed).
    let settings = effective(
        &["--idle-timeout-secs", "30"],
        &[
            ("PERUDO_ALLOWED_ORIGINS", "https://perudo.example.org"),
            ("PERUDO_PUBLIC_URL", "https://perudo.example.org/"),
        ],
    );
    assert_setting(
        &settings,
        "idle_timeout_secs",
        "30",
        "the flag --idle-timeout-secs",
    );
}

#[test]
fn every_serve_argument_but_check_config_is_a_setting_with_a_perudo_variable() {
    let cli = <perudo_server::cli::Cli as clap::CommandFactory>::command();
    let serve = cli.find_subcommand("serve").expect("serve");
    for arg in serve.get_arguments() {
        let id = arg.get_id().as_str();
        if id == "check_config" {
            assert!(arg.get_env().is_none());
            continue;
        }
        let long = arg.get_long().expect("every setting has a long flag");
        assert_eq!(
            long.replace('-', "_"),
            id,
            "the TOML key is the flag in snake_case"
        );
        assert_eq!(
            arg.get_env().and_then(|e| e.to_str()),
            Some(format!("PERUDO_{}", id.to_uppercase()).as_str()),
            "--{long} has the environment variable named after it"
        );
    }
}

#[test]
fn config_docs_are_up_to_date() {
    let path = root().join("docs/CONFIG.md");
    let generated = config::config_markdown();
    if std::env::var_os("UPDATE_CONFIG_DOCS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("write docs/CONFIG.md");
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == generated,
        "docs/CONFIG.md is stale: regenerate it with `{}`",
        config::REGENERATE_DOCS
    );
    // Every setting is in it, with its variable.
    let cli = <perudo_server::cli::Cli as clap::CommandFactory>::command();
    let serve = cli.find_subcommand("serve").expect("serve");
    for arg in serve.get_arguments().filter(|a| a.get_env().is_some()) {
        let env = arg.get_env().and_then(|e| e.to_str()).expect("a variable");
        assert!(written.contains(&format!("`{env}`")), "{env}");
    }
    // The binary prints the same.
    let output = Command::new(BIN)
        .arg("config-docs")
        .output()
        .expect("run perudo config-docs");
    assert_eq!(String::from_utf8_lossy(&output.stdout), generated);
}

#[test]
fn the_example_config_is_valid_and_sets_only_settings() {
    let path = root().join("perudo.example.toml");
    let path = path.to_str().expect("a UTF-8 path");
    let parsed = config::parse_from(["perudo", "serve", "--config", path])
        .unwrap_or_else(|e| panic!("perudo.example.toml: {e}"));
    let text = std::fs::read_to_string(path).expect("read the example");
    let table: toml::Table = text.parse().expect("TOML");
    assert!(table.len() >= 10, "the example shows most settings");
    for key in table.keys() {
        let setting = parsed
            .settings
            .iter()
            .find(|s| &s.key == key)
            .expect("a setting");
        assert_eq!(setting.source, Source::File(PathBuf::from(path)), "{key}");
    }
}

/// Kills the child when dropped, so a failing test leaves no server behind.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `perudo serve --listen 127.0.0.1:0 --storage memory <args>` with info logs on a pipe and
/// no `PERUDO_*` variables but `env`; its standard error line by line.
fn serve_with_piped_logs(
    args: &[&str],
    env: &[(&str, &str)],
) -> (Server, std::sync::mpsc::Receiver<String>) {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--storage", "memory"])
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PERUDO_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    let mut server = Server(command.spawn().expect("start perudo"));
    let stderr = server.0.stderr.take().expect("piped stderr");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    (server, lines_rx)
}

/// Text logs on a pipe (journald, a file) are plain: no ANSI escape codes, whatever the
/// environment says about colours, so `grep room=CODE` finds a room's lines.
#[tokio::test]
async fn text_logs_on_a_pipe_have_no_colour_codes() {
    let (_server, lines_rx) = serve_with_piped_logs(
        &["--log-format", "text"],
        // Terminals set these; neither may turn colours on when stderr is not a terminal.
        &[("TERM", "xterm-256color"), ("CLICOLOR_FORCE", "1")],
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = Vec::new();
    let mut next_line = || {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines_rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("the server logs a line in time ({e}); got {seen:#?}"));
        assert!(
            !line.contains('\u{1b}'),
            "an ANSI escape code in a piped log line: {line:?}"
        );
        seen.push(line.clone());
        line
    };
    let addr: std::net::SocketAddr = loop {
        let line = next_line();
        if let Some((_, addr)) = line.split_once("listening addr=") {
            break addr.trim().parse().expect("a socket address");
        }
    };
    let created = crate::server::create_room_at(addr).await;
    let room_field = format!("room={}", created.code);
    loop {
        let line = next_line();
        if line.contains("room open") {
            assert!(line.contains(&room_field), "{line:?} lacks {room_field}");
            break;
        }
    }
}

#[tokio::test]
async fn json_logs_are_json_lines_with_the_room_code() {
    let (_server, lines_rx) = serve_with_piped_logs(&["--log-format", "json"], &[]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let next_line = || {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines_rx
            .recv_timeout(left)
            .expect("the server logs a line in time");
        let json: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {line}"));
        json
    };

    let addr = loop {
        let line = next_line();
        if line["fields"]["message"] == "listening" {
            break line["fields"]["addr"]
                .as_str()
                .expect("the address")
                .parse()
                .expect("a socket address");
        }
    };
    let created = crate::server::create_room_at(addr).await;

    // A line logged inside the room's task carries the code through its span.
    loop {
        let line = next_line();
        if line["fields"]["message"] == "room open" {
            assert_eq!(line["span"]["name"], "room", "{line}");
            assert_eq!(line["span"]["room"], created.code.as_str(), "{line}");
            assert_eq!(line["spans"][0]["room"], created.code.as_str(), "{line}");
            assert_eq!(line["level"], "INFO");
            break;
        }
    }
}

/// No `info!`, `warn!` or `error!` in the server's code names a seed, dice, a hand, a view or a
/// game state (which would hold hidden dice): those may appear at `debug` at most, seeds never.
#[test]
fn logs_above_debug_name_no_dice_and_no_seed() {
    let forbidden = [
        "seed",
        "dice",
        "die",
        "hand",
        "hands",
        "view",
        "state",
        "game_state",
    ];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    let mut scanned = 0;
    for path in rust_files(&src) {
        let text = std::fs::read_to_string(&path).expect("read a source file");
        for level in ["info!(", "warn!(", "error!("] {
            for (start, _) in text.match_indices(level) {
                scanned += 1;
                let call = macro_call(&text[start..]);
                let words = call
                    .split(|c: char| !c.is_alphanumeric() && c != '_')
                    .filter(|w| !w.is_empty());
                for word in words {
                    if forbidden.contains(&word.to_lowercase().as_str()) {
                        found.push(format!("{}: {call}", path.display()));
                    }
                }
            }
        }
    }
    assert!(scanned > 20, "the scan found the log calls ({scanned})");
    assert!(
        found.is_empty(),
        "log lines that may carry hidden dice: {found:#?}"
    );
    // `seed` at debug or trace would be a leak of the future too.
    for path in rust_files(&src) {
        let text = std::fs::read_to_string(&path).expect("read a source file");
        for level in ["debug!(", "trace!("] {
            for (start, _) in text.match_indices(level) {
                let call = macro_call(&text[start..]);
                assert!(!call.contains("seed"), "{}: {call}", path.display());
            }
        }
    }
}

/// Every `.rs` file under `dir`, in its subfolders too (e.g. `src/room/`).
fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read a source folder") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The text of the macro call that `text` starts with, up to its closing parenthesis.
fn macro_call(text: &str) -> &str {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..=i];
                }
            }
            _ => {}
        }
    }
    text
}

/// `perudo --version` says what runs: the release version, the git revision, the build date.
#[test]
fn version_names_the_release_the_revision_and_the_build_date() {
    let output = Command::new(BIN)
        .arg("--version")
        .output()
        .expect("run the perudo binary");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let expected = format!(
        "perudo {} (revision {}, built {})\n",
        perudo_server::version::VERSION,
        perudo_server::version::REVISION,
        perudo_server::version::BUILD_DATE
    );
    assert_eq!(stdout, expected);
    assert_ne!(perudo_server::version::VERSION, "0.0.0");
    let revision = perudo_server::version::REVISION;
    assert!(
        revision == "unknown"
            || (revision.len() >= 7 && revision.chars().all(|c| c.is_ascii_hexdigit())),
        "{revision}"
    );
    let date = perudo_server::version::BUILD_DATE;
    assert!(
        date.len() == 10
            && date.chars().enumerate().all(|(i, c)| if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }),
        "{date}"
    );
}

/// The web client's share links use the operator's public URL: `runtime` keeps it (without
/// its trailing slash) for the room summary, and keeps none when it was not given (the
/// bound address is no address to share behind a proxy).
#[test]
fn the_public_url_is_the_share_links_base_only_when_given() {
    let serve = |args: &[&str]| {
        let parsed =
            config::parse_from(["perudo", "serve"].iter().chain(args)).expect("the settings parse");
        match parsed.cli.command {
            perudo_server::cli::Command::Serve(serve) => {
                config::runtime(&serve).expect("valid settings")
            }
            _ => panic!("not serve"),
        }
    };
    let given = serve(&["--public-url", "https://perudo.example.org/"]);
    assert_eq!(
        given.server.share_base_url.as_deref(),
        Some("https://perudo.example.org")
    );
    assert_eq!(serve(&[]).server.share_base_url, None);
}

/// `database-url` (flag, variable or TOML key, as every setting) moves the rooms to
/// PostgreSQL; with nothing set `perudo serve` stays on its SQLite file. A bad URL, or asking
/// for memory and PostgreSQL at once, is refused; the password is never printed.
#[test]
fn the_database_url_chooses_postgresql_and_nothing_set_stays_on_sqlite() {
    use perudo_server::config::Storage;
    let serve = |args: &[&str]| {
        let parsed =
            config::parse_from(["perudo", "serve"].iter().chain(args)).expect("the settings parse");
        match parsed.cli.command {
            perudo_server::cli::Command::Serve(serve) => config::runtime(&serve),
            _ => panic!("not serve"),
        }
    };
    match serve(&[]).expect("the defaults").storage {
        Storage::Sqlite(options) => assert_eq!(options.path, Path::new("perudo.db")),
        other => panic!("nothing set is SQLite, got {other:?}"),
    }
    let url = "postgres://perudo:secret@db.example.org/perudo";
    match serve(&["--database-url", url, "--lease-ms", "3000"])
        .expect("a PostgreSQL URL")
        .storage
    {
        Storage::Postgres(options) => {
            assert_eq!(options.url, url);
            assert_eq!(options.lease, Duration::from_secs(3));
            assert_eq!(options.renew_every, Some(Duration::from_secs(1)));
            assert_eq!(options.pool_size, 16);
        }
        other => panic!("database-url is PostgreSQL, got {other:?}"),
    }
    let file = ConfigFile::new(
        "database-url",
        "database_url = \"host=/run/postgresql dbname=perudo\"\ndatabase_pool = 4\n",
    );
    match serve(&["--config", file.path()])
        .expect("the file's URL")
        .storage
    {
        Storage::Postgres(options) => {
            assert_eq!(options.url, "host=/run/postgresql dbname=perudo");
            assert_eq!(options.pool_size, 4);
        }
        other => panic!("the TOML key is PostgreSQL too, got {other:?}"),
    }
    let error = serve(&["--storage", "memory", "--database-url", url]).expect_err("both");
    assert!(error.to_string().contains("set one of them"), "{error}");
    let error = serve(&["--database-url", "postgres://db.example.org:port/perudo"])
        .expect_err("a bad port");
    assert!(
        error
            .to_string()
            .contains("`database-url` is not a PostgreSQL URL"),
        "{error}"
    );

    // From the environment, and printed without its password.
    let settings = effective(&[], &[("PERUDO_DATABASE_URL", url)]);
    assert_setting(
        &settings,
        "database_url",
        "\"postgres://perudo:REDACTED@db.example.org/perudo\"",
        "the environment variable PERUDO_DATABASE_URL",
    );
    let out = check_config(&[], &[("PERUDO_DATABASE_URL", "host=db password=secret")]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!printed.contains("secret"), "{printed}");
    assert!(printed.contains("password=REDACTED"), "{printed}");
}

//! The settings of `perudo serve`, layered: flag, else environment variable, else the
//! `--config` TOML file, else the default.
//!
//! Nothing here names a setting. A setting is any `serve` argument with an environment variable
//! (found in the clap `Command`, flattened groups included), and its TOML key is its clap id,
//! which for a derived field is the field name: the long flag in snake_case. The file's values
//! become the arguments' *defaults* before the real parse, so clap itself applies the order
//! flag > env > file > default, and `ArgMatches::value_source` tells a file value (a default we
//! set) from a built-in one. File values are checked with the argument's own value parser when
//! the file is read, so a bad file is an error even where a flag overrides it.

use std::any::TypeId;
use std::error::Error as _;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::builder::ValueParser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};

/// The subcommand whose arguments are settings.
const SERVE: &str = "serve";
/// The setting naming the file, which the file itself cannot set.
const CONFIG: &str = "config";
/// How to regenerate docs/CONFIG.md, for the test that finds it stale.
pub const REGENERATE_DOCS: &str = "UPDATE_CONFIG_DOCS=1 cargo test -p perudo-server config_docs";

/// The command line, parsed, with where each `serve` setting came from.
#[derive(Debug)]
pub struct Parsed {
    pub cli: Cli,
    /// Every `serve` setting in definition order; empty for the other subcommands.
    pub settings: Vec<Setting>,
}

/// One setting's effective value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The TOML key (the clap id).
    pub key: String,
    /// The value as given (several for a list setting); empty when unset.
    pub values: Vec<String>,
    pub source: Source,
    kind: Kind,
}

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The named flag on the command line.
    Flag(String),
    /// The named environment variable.
    Env(String),
    /// The config file.
    File(PathBuf),
    /// The built-in default.
    Default,
    /// Not set anywhere, and without a default.
    Unset,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "the flag {flag}"),
            Source::Env(var) => write!(f, "the environment variable {var}"),
            Source::File(path) => write!(f, "the config file {}", path.display()),
            Source::Default => f.write_str("the default"),
            Source::Unset => f.write_str("unset"),
        }
    }
}

/// What a TOML value must be for a setting, from the type its value parser produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Integer { min: i128, max: i128 },
    Float,
    Bool,
    Text,
}

impl Kind {
    fn of(parser: &ValueParser) -> Kind {
        let id = parser.type_id();
        macro_rules! integers {
            ($($t:ty),*) => {
                $(if id == TypeId::of::<$t>() {
                    return Kind::Integer { min: <$t>::MIN as i128, max: <$t>::MAX as i128 };
                })*
            };
        }
        integers!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);
        if id == TypeId::of::<f64>() || id == TypeId::of::<f32>() {
            Kind::Float
        } else if id == TypeId::of::<bool>() {
            Kind::Bool
        } else {
            Kind::Text
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::Integer { .. } => "an integer",
            Kind::Float => "a number",
            Kind::Bool => "a boolean",
            Kind::Text => "a string",
        }
    }

    /// The TOML value's text as clap would read it from a flag, if it is of this kind.
    fn text(self, value: &toml::Value) -> Option<String> {
        match (self, value) {
            (Kind::Integer { .. } | Kind::Float, toml::Value::Integer(n)) => Some(n.to_string()),
            (Kind::Float, toml::Value::Float(x)) => Some(x.to_string()),
            (Kind::Bool, toml::Value::Boolean(b)) => Some(b.to_string()),
            (Kind::Text, toml::Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// A value in TOML syntax.
    fn toml(self, text: &str) -> String {
        match self {
            Kind::Integer { .. } | Kind::Float | Kind::Bool => text.to_string(),
            Kind::Text => toml::Value::String(text.to_string()).to_string(),
        }
    }
}

/// Whether `arg` is a setting (it has an environment variable).
fn is_setting(arg: &Arg) -> bool {
    arg.get_env().is_some()
}

/// Whether `arg` may be set by the config file.
fn is_file_setting(arg: &Arg) -> bool {
    is_setting(arg) && arg.get_id() != CONFIG
}

fn takes_many(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Append)
        || arg.get_num_args().is_some_and(|n| n.max_values() > 1)
}

fn env_name(arg: &Arg) -> String {
    arg.get_env()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn flag_name(arg: &Arg) -> String {
    arg.get_long()
        .map_or_else(|| arg.get_id().to_string(), |l| format!("--{l}"))
}

/// Checks `values` with `arg`'s value parser, as clap would on the command line.
fn check(arg: &Arg, values: &[String]) -> Result<(), clap::Error> {
    let mut probe = probe_command(arg);
    let mut argv = Vec::new();
    for value in values {
        argv.push(OsString::from("--value"));
        argv.push(OsString::from(value));
    }
    probe.try_get_matches_from_mut(argv).map(drop)
}

/// A command with one option that parses values the way `arg` does.
fn probe_command(arg: &Arg) -> clap::Command {
    let mut probe_arg = Arg::new("value")
        .long("value")
        .value_parser(arg.get_value_parser().clone())
        .action(if takes_many(arg) {
            ArgAction::Append
        } else {
            ArgAction::Set
        })
        .allow_negative_numbers(true);
    if let Some(delimiter) = arg.get_value_delimiter() {
        probe_arg = probe_arg.value_delimiter(delimiter);
    }
    clap::Command::new("probe")
        .no_binary_name(true)
        .disable_help_flag(true)
        .arg(probe_arg)
}

/// The reason in a value error, without clap's framing.
fn reason(error: &clap::Error) -> String {
    if let Some(source) = error.source() {
        return source.to_string();
    }
    if let Some(ContextValue::Strings(valid)) = error.get(ContextKind::ValidValue) {
        return format!("possible values: {}", valid.join(", "));
    }
    error.kind().to_string()
}

/// The smallest and largest integers `arg` accepts, found by bisection with its own value
/// parser (the accepted set of a ranged integer parser is an interval), so the range is
/// written once, in the `value_parser`.
fn integer_range(arg: &Arg) -> Option<(i128, i128)> {
    let Kind::Integer { min, max } = Kind::of(arg.get_value_parser()) else {
        return None;
    };
    let mut probe = probe_command(arg);
    let mut accepts = |n: i128| {
        probe
            .try_get_matches_from_mut(["--value".to_string(), n.to_string()])
            .is_ok()
    };
    let inside = arg
        .get_default_values()
        .first()
        .and_then(|d| d.to_str()?.parse::<i128>().ok())
        .filter(|&d| accepts(d))
        .or_else(|| [min, max, 0, 1].into_iter().find(|&n| accepts(n)))?;
    // The lowest accepted value in [min, inside], then the highest in [inside, max].
    let (mut low, mut high) = (min, inside);
    while low < high {
        let mid = low + (high - low) / 2;
        if accepts(mid) {
            high = mid
        } else {
            low = mid + 1
        }
    }
    let lowest = low;
    let (mut low, mut high) = (inside, max);
    while low < high {
        let mid = low + (high - low + 1) / 2;
        if accepts(mid) {
            low = mid
        } else {
            high = mid - 1
        }
    }
    Some((lowest, low))
}

/// An integer setting's range in words: `1 to 3600`, or `≥ 1` when only the type bounds it.
fn range_text(arg: &Arg) -> Option<String> {
    let (low, high) = integer_range(arg)?;
    let Kind::Integer { max, .. } = Kind::of(arg.get_value_parser()) else {
        return None;
    };
    Some(if high == max {
        format!("≥ {low}")
    } else {
        format!("{low} to {high}")
    })
}

/// The allowed values of a setting in words, or `None` when only its description can say.
fn allowed(arg: &Arg) -> Option<String> {
    let possible = arg.get_possible_values();
    if !possible.is_empty() {
        let names: Vec<String> = possible
            .iter()
            .filter(|p| !p.is_hide_set())
            .map(|p| format!("`{}`", p.get_name()))
            .collect();
        return Some(names.join(", "));
    }
    if let Some(range) = range_text(arg) {
        return Some(range);
    }
    let id = arg.get_value_parser().type_id();
    if id == TypeId::of::<std::net::SocketAddr>() {
        Some("an IP address and port".to_string())
    } else if id == TypeId::of::<PathBuf>() {
        Some("a file path".to_string())
    } else if id == TypeId::of::<String>() {
        Some("text".to_string())
    } else {
        None
    }
}

/// The `perudo` command as the binary parses it: the derived one, with each setting's help
/// also naming its TOML key and, for integers, its range (clap shows neither by itself).
pub fn command() -> clap::Command {
    Cli::command().mut_subcommand(SERVE, |serve| {
        let ids: Vec<(String, Option<String>)> = serve
            .get_arguments()
            .filter(|a| is_file_setting(a))
            .map(|a| (a.get_id().to_string(), range_text(a)))
            .collect();
        ids.into_iter().fold(serve, |serve, (id, range)| {
            serve.mut_arg(&id, |arg| {
                let mut notes = String::new();
                if let Some(range) = &range {
                    write!(notes, " [range: {range}]").expect("write to a string");
                }
                write!(notes, " [toml: {id}]").expect("write to a string");
                let help = arg.get_help().map(|h| format!("{h}{notes}"));
                let long_help = arg.get_long_help().map(|h| format!("{h}{notes}"));
                let arg = match help {
                    Some(help) => arg.help(help),
                    None => arg.help(notes.trim_start().to_string()),
                };
                match long_help {
                    Some(long_help) => arg.long_help(long_help),
                    None => arg,
                }
            })
        })
    })
}

/// Parses the process's command line (see [`parse_from`]).
pub fn parse() -> Result<Parsed, clap::Error> {
    parse_from(std::env::args_os())
}

/// Parses a command line, reading `serve --config <file>` (or `PERUDO_CONFIG`) when given.
/// Errors name the setting, where its value came from, and what it may be; `clap::Error::exit`
/// prints them.
pub fn parse_from<I, T>(args: I) -> Result<Parsed, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut cmd = command();
    let first = cmd
        .try_get_matches_from_mut(&argv)
        .map_err(|e| name_the_source(e, &mut cmd, &argv))?;
    let config = match first.subcommand() {
        Some((SERVE, serve)) => serve.get_one::<PathBuf>(CONFIG).cloned(),
        _ => None,
    };
    let mut file_keys = Vec::new();
    let matches = match &config {
        None => first,
        Some(path) => {
            let serve = cmd.find_subcommand(SERVE).expect("serve is a subcommand");
            let file = read_file(path, serve)?;
            file_keys = file.iter().map(|(key, _)| key.clone()).collect();
            cmd = file.into_iter().fold(command(), |cmd, (id, values)| {
                cmd.mut_subcommand(SERVE, |serve| {
                    serve.mut_arg(id, |arg| arg.default_values(values))
                })
            });
            cmd.try_get_matches_from_mut(&argv)
                .map_err(|e| name_the_source(e, &mut cmd, &argv))?
        }
    };
    let cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))?;
    let settings = match (&cli.command, matches.subcommand()) {
        (Command::Serve(_), Some((SERVE, serve_matches))) => {
            settings(serve_matches, config.as_deref(), &file_keys)
        }
        _ => Vec::new(),
    };
    Ok(Parsed { cli, settings })
}

fn settings(matches: &ArgMatches, file: Option<&Path>, file_keys: &[String]) -> Vec<Setting> {
    // The derived command, not the one parsed: its arguments are in definition order.
    let mut cli = Cli::command();
    cli.build();
    let serve = cli.find_subcommand(SERVE).expect("serve is a subcommand");
    serve
        .get_arguments()
        .filter(|a| is_setting(a))
        .map(|arg| {
            let id = arg.get_id().as_str();
            let values: Vec<String> = matches
                .get_raw(id)
                .map(|v| v.map(|v| v.to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            let source = match matches.value_source(id) {
                Some(ValueSource::CommandLine) => Source::Flag(flag_name(arg)),
                Some(ValueSource::EnvVariable) => Source::Env(env_name(arg)),
                Some(ValueSource::DefaultValue) => match file {
                    Some(path) if file_keys.iter().any(|k| k == id) => {
                        Source::File(path.to_path_buf())
                    }
                    _ => Source::Default,
                },
                _ => Source::Unset,
            };
            Setting {
                key: id.to_string(),
                values,
                source,
                kind: Kind::of(arg.get_value_parser()),
            }
        })
        .collect()
}

/// The settings as a TOML file that would set each to its effective value, with a comment
/// saying where it came from (`perudo serve --check-config` prints it).
pub fn describe(settings: &[Setting]) -> String {
    let mut out = String::new();
    for setting in settings {
        let value = match setting.values.as_slice() {
            [] => None,
            [one] if setting.key == "database_url" => {
                Some(setting.kind.toml(&redact_password(one)))
            }
            [one] => Some(setting.kind.toml(one)),
            many => Some(format!(
                "[{}]",
                many.iter()
                    .map(|v| setting.kind.toml(v))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
        let line = match value {
            None => format!("# {} is unset", setting.key),
            Some(value) if setting.key == CONFIG => format!("# {} = {value}", setting.key),
            Some(value) => format!("{} = {value}", setting.key),
        };
        match setting.source {
            Source::Unset => writeln!(out, "{line}"),
            _ => writeln!(out, "{line:<48} # {}", setting.source),
        }
        .expect("write to a string");
    }
    out
}

/// A PostgreSQL connection string with its password replaced, for printing: the URL form's
/// `:password@`, or the key=value form's `password=...`.
pub fn redact_password(text: &str) -> String {
    if let Ok(mut url) = reqwest::Url::parse(text)
        && url.password().is_some()
    {
        let _ = url.set_password(Some("REDACTED"));
        return url.to_string();
    }
    text.split(' ')
        .map(|pair| {
            if pair.trim_start().starts_with("password=") {
                "password=REDACTED"
            } else {
                pair
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What `perudo serve` runs with, built from its settings by [`runtime`]: everything but what
/// needs the running process (the bound address for a default public URL, the open store).
#[derive(Debug)]
pub struct Runtime {
    pub listen: std::net::SocketAddr,
    /// The checked `--public-url` without a trailing slash; `None`: `http://<bound address>`.
    pub public_url: Option<String>,
    /// The server's settings; its `store` is `None` and `rooms.public_url` empty until
    /// `perudo serve` opens the database and binds.
    pub server: crate::ServerConfig,
    /// Where rooms are kept.
    pub storage: Storage,
    pub shutdown_grace: std::time::Duration,
}

/// Where `perudo serve` keeps its rooms.
#[derive(Debug)]
pub enum Storage {
    /// Memory only (`--storage memory`).
    Memory,
    /// The SQLite file (the default).
    Sqlite(crate::store::SqliteOptions),
    /// A PostgreSQL database shared by the nodes (`--database-url`).
    Postgres(crate::store::PostgresOptions),
}

/// A `serve` setting, or a combination of them, that the server cannot run with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidSettings(pub String);

impl std::fmt::Display for InvalidSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid settings: {}", self.0)
    }
}

impl std::error::Error for InvalidSettings {}

/// Checks the `serve` settings together and builds what the server runs with. Both
/// `perudo serve` and `perudo serve --check-config` call this, so a configuration the check
/// accepts is one the server starts with (clap has already checked each value alone).
pub fn runtime(args: &crate::cli::ServeArgs) -> Result<Runtime, InvalidSettings> {
    use std::time::Duration;

    let mut limits = args
        .limits
        .to_limits()
        .map_err(|e| InvalidSettings(e.to_string()))?;
    let public_url = args
        .public_url
        .as_deref()
        .map(public_url)
        .transpose()
        .map_err(InvalidSettings)?;
    // Browsers may open game sockets only from the public site unless the operator lists
    // origins (another site's page could otherwise play in its visitors' names).
    if limits.allowed_origins.is_empty()
        && let Some(origin) = public_url.as_deref().and_then(crate::limits::origin_of)
    {
        limits.allowed_origins = vec![origin];
    }
    let retention = Duration::from_secs(u64::from(args.store.game_retention_days) * 86_400);
    let storage = match (args.store.storage, &args.store.database_url) {
        (crate::cli::StorageKind::Memory, Some(_)) => {
            return Err(InvalidSettings(
                "`storage = memory` keeps rooms in memory only, and `database-url` in \
                 PostgreSQL: set one of them"
                    .into(),
            ));
        }
        (crate::cli::StorageKind::Memory, None) => Storage::Memory,
        (crate::cli::StorageKind::Sqlite, Some(url)) => {
            crate::store::postgres::connect_config(url, None).map_err(|e| {
                let why = match e {
                    crate::store::StorageError::Database(why) => why,
                    other => other.to_string(),
                };
                InvalidSettings(format!("`database-url` is not a PostgreSQL URL: {why}"))
            })?;
            let lease = Duration::from_millis(args.store.lease_ms);
            let mut options = crate::store::PostgresOptions::new(url.clone());
            options.pool_size = args.store.database_pool;
            options.retention = retention;
            options.lease = lease;
            options.renew_every = Some(lease / 3);
            options.ca_file = args.store.database_ca.clone();
            options.node_url = args.store.node_url.as_deref().map(node_url).transpose()?;
            Storage::Postgres(options)
        }
        (_, None) if args.store.database_ca.is_some() => {
            return Err(InvalidSettings(
                "`database-ca` is the CA of the PostgreSQL server's certificate: it needs \
                 `database-url`"
                    .into(),
            ));
        }
        (_, None) if args.store.node_url.is_some() => {
            return Err(InvalidSettings(
                "`node-url` is where the other nodes of a cluster reach this one: it needs \
                 `database-url`, the database the nodes share"
                    .into(),
            ));
        }
        (crate::cli::StorageKind::Sqlite, None) => Storage::Sqlite(crate::store::SqliteOptions {
            path: args.store.db.clone(),
            sync: args.store.db_sync,
            retention,
            max_pages: args.store.db_max_pages,
        }),
    };
    let server = crate::ServerConfig {
        store: None,
        rooms: crate::RoomSettings {
            reveal_pause: Duration::from_millis(args.reveal_pause_ms),
            bot_delay: Duration::from_millis(args.bot_delay_ms),
            idle_close: Duration::from_secs(args.idle_close_secs),
            unplayed_close: Duration::from_secs(args.unplayed_close_secs),
            disconnect_grace: Duration::from_millis(args.disconnect_grace_ms),
            restore_grace: Duration::from_secs(args.restore_grace_secs),
            public_url: String::new(),
            ..crate::RoomSettings::default()
        },
        max_rooms: args.max_rooms,
        limits,
        admin_socket: match (&args.admin_socket, args.store.storage) {
            (Some(path), _) if path.as_os_str() == "none" => None,
            (Some(path), _) => Some(path.clone()),
            (None, crate::cli::StorageKind::Sqlite) => {
                Some(crate::admin::default_socket(&args.store.db))
            }
            (None, crate::cli::StorageKind::Memory) => None,
        },
        share_base_url: public_url.clone(),
    };
    Ok(Runtime {
        listen: args.listen,
        public_url,
        server,
        storage,
        shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
    })
}

/// `--public-url` checked: an `http` or `https` URL of a host, without a path (the server
/// answers at the root of its host: share links are `<public url>/r/CODE`), query or
/// fragment. Returned without a trailing slash.
fn public_url(text: &str) -> Result<String, String> {
    let bad = |why: &str| {
        format!("public-url must be like https://perudo.example.org, got {text:?}: {why}")
    };
    let url = reqwest::Url::parse(text.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "no path, query or fragment (perudo is served at the root of its host)",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("no user name or password"));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

/// Reads a config file into each setting's values, checked as clap would check them.
fn read_file(
    path: &Path,
    serve: &clap::Command,
) -> Result<Vec<(String, Vec<String>)>, clap::Error> {
    // Built, so that every argument has its final value parser (a flag's `bool`, say).
    let mut serve = serve.clone();
    serve.build();
    let file = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| {
        serve.error(
            ErrorKind::Io,
            format!("cannot read the config file {file}: {e}"),
        )
    })?;
    let table: toml::Table = text.parse().map_err(|e| {
        serve.error(
            ErrorKind::InvalidValue,
            format!("the config file {file} is not valid TOML: {e}"),
        )
    })?;
    let mut values = Vec::new();
    for (key, value) in &table {
        let Some(arg) = serve
            .get_arguments()
            .find(|a| a.get_id() == key.as_str() && is_file_setting(a))
            .cloned()
        else {
            let snake = key.replace('-', "_");
            let hint = if serve
                .get_arguments()
                .any(|a| a.get_id() == snake.as_str() && is_file_setting(a))
            {
                format!(" (did you mean `{snake}`?)")
            } else {
                let known: Vec<&str> = serve
                    .get_arguments()
                    .filter(|a| is_file_setting(a))
                    .map(|a| a.get_id().as_str())
                    .collect();
                format!("; the settings are {}", known.join(", "))
            };
            return Err(serve.error(
                ErrorKind::UnknownArgument,
                format!("the config file {file} has an unknown setting `{key}`{hint}"),
            ));
        };
        let kind = Kind::of(arg.get_value_parser());
        let items: Vec<&toml::Value> = match value {
            toml::Value::Array(items) if takes_many(&arg) => items.iter().collect(),
            one => vec![one],
        };
        let mut texts = Vec::new();
        for item in items {
            let Some(text) = kind.text(item) else {
                let expected = if takes_many(&arg) {
                    format!("{} or a list of them", kind.expected())
                } else {
                    kind.expected().to_string()
                };
                return Err(serve.error(
                    ErrorKind::InvalidValue,
                    format!(
                        "the config file {file} sets `{key}` to {}, but it must be {expected}",
                        article(item.type_str())
                    ),
                ));
            };
            texts.push(text);
        }
        if let Err(error) = check(&arg, &texts) {
            return Err(serve.error(
                ErrorKind::ValueValidation,
                format!(
                    "invalid value {} for `{key}` ({}) in the config file {file}: {}",
                    value,
                    flag_name(&arg),
                    reason(&error)
                ),
            ));
        }
        values.push((key.clone(), texts));
    }
    Ok(values)
}

fn article(type_name: &str) -> String {
    match type_name.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("an {type_name}"),
        _ => format!("a {type_name}"),
    }
}

/// Rewrites clap's error for a bad `serve` value so that it says where the value came from:
/// clap's own message reads the same for a flag and for an environment variable.
fn name_the_source(error: clap::Error, cmd: &mut clap::Command, argv: &[OsString]) -> clap::Error {
    if !matches!(
        error.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) || argv.get(1).map(OsString::as_os_str) != Some(OsStr::new(SERVE))
    {
        return error.format(cmd);
    }
    let Some(ContextValue::String(shown)) = error.get(ContextKind::InvalidArg) else {
        return error.format(cmd);
    };
    let serve = cmd.find_subcommand(SERVE).expect("serve is a subcommand");
    let Some(arg) = serve.get_arguments().find(|a| {
        a.get_long().is_some_and(|long| {
            let flag = format!("--{long}");
            shown == &flag
                || shown.starts_with(&format!("{flag} "))
                || shown.starts_with(&format!("{flag}="))
        })
    }) else {
        return error.format(cmd);
    };
    let flag = flag_name(arg);
    let on_command_line = argv.iter().skip(2).any(|a| {
        let a = a.to_string_lossy();
        a == flag || a.starts_with(&format!("{flag}="))
    });
    let setting =
        if !on_command_line && arg.get_env().is_some_and(|e| std::env::var_os(e).is_some()) {
            format!("the environment variable {} ({flag})", env_name(arg))
        } else {
            format!("the flag {flag}")
        };
    let value = match error.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) => format!("'{value}' "),
        _ => String::new(),
    };
    let message = format!("invalid value {value}for {setting}: {}", reason(&error));
    let kind = error.kind();
    cmd.find_subcommand_mut(SERVE)
        .expect("serve is a subcommand")
        .error(kind, message)
}

/// docs/CONFIG.md: every `serve` setting with its flag, environment variable, TOML key,
/// default, allowed values and description, generated from the clap definition.
pub fn config_markdown() -> String {
    let mut cli = Cli::command();
    cli.build();
    let serve = cli.find_subcommand(SERVE).expect("serve is a subcommand");
    let mut out = String::new();
    out.push_str(
        "# Configuration\n\n\
         <!-- Generated from the clap definition of `perudo serve` (server/src/cli.rs) by\n     \
         `perudo config-docs`; a test fails when this file is stale. Regenerate it with\n     `",
    );
    out.push_str(REGENERATE_DOCS);
    out.push_str(
        "`. -->\n\n\
         `perudo serve` reads each setting from, in order of precedence:\n\n\
         1. its flag (`--max-rooms 500`);\n\
         2. its environment variable (`PERUDO_MAX_ROOMS=500`);\n\
         3. the TOML file named by `--config` or `PERUDO_CONFIG`, under the setting's name in\n   \
         snake_case (`max_rooms = 500`);\n\
         4. its default.\n\n\
         Every value is checked at start; an error names the setting, where the value came from\n\
         and what it may be. An unknown key, a value of the wrong type or an unreadable file is\n\
         an error too. `perudo serve --check-config` prints each setting's effective value and\n\
         its source (in TOML, so the output is itself a config file) and exits.\n\
         [perudo.example.toml](../perudo.example.toml) is an example file, and\n\
         `perudo serve --help` shows the same settings.\n\n\
         | TOML key | flag | environment variable | default | allowed | description |\n\
         |---|---|---|---|---|---|\n",
    );
    for arg in serve.get_arguments().filter(|a| is_setting(a)) {
        let key = if is_file_setting(arg) {
            format!("`{}`", arg.get_id())
        } else {
            "—".to_string()
        };
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|d| format!("`{}`", d.to_string_lossy()))
            .collect();
        let default = if defaults.is_empty() {
            "unset".to_string()
        } else {
            defaults.join(", ")
        };
        let help = one_line(
            &arg.get_long_help()
                .or(arg.get_help())
                .map(ToString::to_string)
                .unwrap_or_default(),
        );
        // clap drops a one-line help's final period; the table wants sentences.
        let mut description = String::new();
        let mut sentence = |text: &str| {
            if !description.is_empty() {
                description.push(' ');
            }
            description.push_str(text);
            if !text.is_empty() && !text.ends_with('.') {
                description.push('.');
            }
        };
        sentence(&help);
        for value in arg.get_possible_values() {
            if let Some(value_help) = value.get_help() {
                sentence(&format!(
                    "`{}`: {}",
                    value.get_name(),
                    one_line(&value_help.to_string())
                ));
            }
        }
        writeln!(
            out,
            "| {key} | `{}` | `{}` | {default} | {} | {} |",
            flag_name(arg),
            env_name(arg),
            allowed(arg).unwrap_or_else(|| "see description".to_string()),
            description.replace('|', "\\|"),
        )
        .expect("write to a string");
    }
    out
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A `node-url`: `http://host:port`, without a path, query or trailing slash (the routes are
/// appended to it).
fn node_url(url: &str) -> Result<String, InvalidSettings> {
    let bad = |why: &str| InvalidSettings(format!("`node-url` {why}: {url:?}"));
    let parsed = reqwest::Url::parse(url).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if parsed.scheme() != "http" {
        return Err(bad(
            "must be an http:// address (the nodes' own network; TLS between nodes is not \
             supported)",
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if parsed.path() != "/" || parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("must be just a scheme, host and port"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `serve`-like command with kinds of settings `perudo serve` does not have yet.
    fn command() -> clap::Command {
        clap::Command::new("serve")
            .arg(
                Arg::new("origins")
                    .long("origins")
                    .env("PERUDO_ORIGINS")
                    .action(ArgAction::Append)
                    .value_delimiter(','),
            )
            .arg(
                Arg::new("ratio")
                    .long("ratio")
                    .env("PERUDO_RATIO")
                    .value_parser(clap::value_parser!(f64)),
            )
            .arg(
                Arg::new("strict")
                    .long("strict")
                    .env("PERUDO_STRICT")
                    .action(ArgAction::SetTrue),
            )
            .arg(
                Arg::new("frame_bytes")
                    .long("frame-bytes")
                    .env("PERUDO_FRAME_BYTES")
                    .value_parser(clap::value_parser!(u16).range(64..=8192))
                    .default_value("4096"),
            )
            .arg(
                Arg::new("offset")
                    .long("offset")
                    .env("PERUDO_OFFSET")
                    .value_parser(clap::value_parser!(i64).range(-10..=10)),
            )
            .arg(
                Arg::new("count")
                    .long("count")
                    .env("PERUDO_COUNT")
                    .value_parser(clap::value_parser!(u64)),
            )
    }

    fn read(text: &str) -> Result<Vec<(String, Vec<String>)>, String> {
        let dir = std::env::temp_dir().join(format!(
            "perudo-config-unit-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        let path = dir.join("settings.toml");
        std::fs::write(&path, text).expect("write");
        let result = read_file(&path, &command()).map_err(|e| e.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    fn arg(id: &str) -> Arg {
        command()
            .get_arguments()
            .find(|a| a.get_id() == id)
            .cloned()
            .expect("an argument")
    }

    #[test]
    fn lists_floats_and_booleans_are_read_by_kind() {
        let values = read("origins = [\"https://a\", \"https://b\"]\nratio = 2\nstrict = true\n")
            .expect("a valid file");
        assert_eq!(
            values,
            [
                (
                    "origins".to_string(),
                    vec!["https://a".into(), "https://b".into()]
                ),
                ("ratio".to_string(), vec!["2".into()]),
                ("strict".to_string(), vec!["true".into()]),
            ]
        );
        assert_eq!(
            read("origins = \"https://a\"").expect("one value for a list"),
            [("origins".to_string(), vec!["https://a".to_string()])]
        );
        let error = read("origins = [1]").expect_err("a number in a list of strings");
        assert!(
            error.contains("sets `origins` to an integer, but it must be a string or a list"),
            "{error}"
        );
        let error = read("strict = \"yes\"").expect_err("a string for a boolean");
        assert!(error.contains("must be a boolean"), "{error}");
        let error = read("frame_bytes = 10").expect_err("below the range");
        assert!(error.contains("10 is not in 64..=8192"), "{error}");
    }

    #[test]
    fn a_public_url_is_an_http_url_of_a_host_at_its_root() {
        assert_eq!(
            public_url("https://perudo.example.org/").as_deref(),
            Ok("https://perudo.example.org")
        );
        assert_eq!(
            public_url("http://127.0.0.1:8080").as_deref(),
            Ok("http://127.0.0.1:8080")
        );
        for (bad, why) in [
            ("perudo.example.org", "relative URL without a base"),
            (
                "ftp://perudo.example.org",
                "the scheme must be http or https",
            ),
            (
                "https://perudo.example.org/perudo",
                "no path, query or fragment",
            ),
            (
                "https://perudo.example.org/?a=1",
                "no path, query or fragment",
            ),
            (
                "https://user:pw@perudo.example.org",
                "no user name or password",
            ),
        ] {
            let error = public_url(bad).expect_err(bad);
            assert!(error.contains(why), "{bad}: {error}");
            assert!(error.starts_with("public-url must be like"), "{error}");
        }
    }

    #[test]
    fn ranges_are_found_from_the_value_parser() {
        assert_eq!(
            range_text(&arg("frame_bytes")).as_deref(),
            Some("64 to 8192")
        );
        assert_eq!(range_text(&arg("offset")).as_deref(), Some("-10 to 10"));
        assert_eq!(range_text(&arg("count")).as_deref(), Some("≥ 0"));
        assert_eq!(range_text(&arg("ratio")), None);
        assert_eq!(range_text(&arg("origins")), None);
    }
}

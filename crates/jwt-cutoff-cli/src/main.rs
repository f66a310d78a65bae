//! `jwt-cutoff`: the operator's command line for jwt-cutoff's cutoff stores. Log one subject out
//! from all devices, one session, or everyone after a key leak, and watch the changes as the
//! store pushes them, from a shell, against the production store, without restarting anything.
//!
//! ```text
//! jwt-cutoff logout-all --store sqlite://jwt-cutoff-demo.db alice bob
//! jwt-cutoff revoke-session --store postgres://postgres@localhost/app alice 5F2b…
//! jwt-cutoff logout-everyone --store redis://127.0.0.1:6379 --key-prefix app:
//! jwt-cutoff watch --store redis://127.0.0.1:6379 --json
//! jwt-cutoff inspect --secret-env ACCESS_SECRET --store sqlite://jwt-cutoff-demo.db "$TOKEN"
//! jwt-cutoff inspect --jwks-url https://login.example.com/jwks.json --store "$STORE" --trusted-issuer - < token.txt
//! ```
//!
//! Exit codes: 0 done; 1 the store could not be reached or did not answer within `--timeout`, or
//! a check of `inspect` failed (the message on stderr); 2 a usage error (one line on stderr).

mod inspect;
mod output;
mod store;

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use jwt_cutoff::{Algorithm, KeyFetcher, VerifyingKey};
use jwt_cutoff_store::{Cutoff, Scope, Timestamp};

use crate::inspect::{Inspected, Judgement, Signature};
use crate::output::Format;
use crate::store::{StoreOptions, StoreUrl};

/// Log people out of services that use jwt-cutoff, and watch the changes, on any cutoff store.
#[derive(Debug, Parser)]
#[command(name = "jwt-cutoff", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Logs each subject out from all devices: every token issued before now is refused (the
    /// cutoff is never lowered). Prints the cutoff now stored for each.
    LogoutAll {
        #[command(flatten)]
        store: StoreArgs,
        /// The subjects (the tokens' `sub`).
        #[arg(required = true)]
        subjects: Vec<String>,
    },
    /// Logs everyone out: every token issued before now is refused, whoever it belongs to (after
    /// a signing key leaked, then rotate the key).
    LogoutEveryone {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revokes one session (one login and the tokens refreshed from it: their `sid`).
    RevokeSession {
        #[command(flatten)]
        store: StoreArgs,
        /// Whose session it is.
        subject: String,
        /// The session id (the tokens' `sid`). One in 64 of the ids jwt-cutoff mints starts with
        /// `-`, which is taken as the id here, not as an option.
        #[arg(allow_hyphen_values = true)]
        session: String,
    },
    /// Shows what is stored: the everyone cutoff, then each subject's own cutoff and its
    /// sessions' (those revoked and still kept).
    Show {
        #[command(flatten)]
        store: StoreArgs,
        /// The subjects (the tokens' `sub`).
        #[arg(required = true)]
        subjects: Vec<String>,
        /// One JSON object per line: `{"everyone": true, "valid_from", "refused"}`, then
        /// `{"subject", "valid_from", "refused", "sessions": [{"session", "valid_from",
        /// "refused"}]}`; `valid_from` in seconds since the epoch (with microseconds) or null.
        #[arg(long)]
        json: bool,
    },
    /// Shows a token's header and claims; with a key, whether its signature holds; with a
    /// store, whether its cutoffs refuse it. Exits 1 when a check fails ("signature" or
    /// "revoked").
    Inspect {
        /// The token, or - to read it from stdin.
        token: String,
        /// Checks the signature with the HMAC secret in this environment variable (never on the
        /// command line, never printed).
        #[arg(long, value_name = "NAME", conflicts_with = "public_key")]
        secret_env: Option<String>,
        /// Checks the signature with this PEM public key (RSA, EC or Ed25519).
        #[arg(long, value_name = "FILE", conflicts_with = "jwks_url")]
        public_key: Option<PathBuf>,
        /// Checks the signature with the keys of the JWK set at this URL (an identity
        /// provider's `jwks_uri`), fetched within --timeout.
        #[arg(long, value_name = "URL", conflicts_with = "secret_env")]
        jwks_url: Option<String>,
        /// Checks the token against this cutoff store (see the other commands' --store).
        #[arg(long, env = "JWT_CUTOFF_STORE")]
        store: Option<String>,
        /// Judges the token as the services that trust its issuer (`iss`, an identity provider)
        /// do: under `<iss>#<sub>`, and its `sid` under `<iss>#`. Without it, as a token of the
        /// services' own issuer: under `sub`.
        #[arg(long, requires = "store")]
        trusted_issuer: bool,
        #[command(flatten)]
        options: StoreFlags,
    },
    /// Prints each change as the store pushes it, until Ctrl-C (PostgreSQL and Redis stores
    /// push; a SQLite store does not, and this exits 1).
    Watch {
        #[command(flatten)]
        store: StoreArgs,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

/// Where the cutoffs are.
#[derive(Debug, Args)]
struct StoreArgs {
    /// The cutoff store: sqlite://PATH (an existing file), postgres://USER@HOST/DB,
    /// redis://HOST:PORT or redis://HOST:PORT/DB.
    #[arg(long, env = "JWT_CUTOFF_STORE")]
    store: String,
    #[command(flatten)]
    options: StoreFlags,
}

/// How the store is shaped and how long it may take.
#[derive(Debug, Args)]
struct StoreFlags {
    /// The SQL stores' table (the everyone and sessions tables are named after it).
    #[arg(long, default_value = jwt_cutoff_sqlx::DEFAULT_TABLE)]
    table: String,
    /// The Redis store's key prefix; the default is the demo's (its --redis-prefix).
    #[arg(long, default_value = "jwt-cutoff-demo:")]
    key_prefix: String,
    /// How long the store may take to answer, e.g. 10s or 500ms.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if error.use_stderr() => {
            // One line: clap's first, without its usage block.
            let message = error.to_string();
            eprintln!("{}", message.lines().next().unwrap_or("invalid arguments"));
            return ExitCode::from(2);
        }
        // --help, --version
        Err(error) => {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("jwt-cutoff: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(line)) => {
            eprintln!("{line}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(message)) => {
            eprintln!("jwt-cutoff: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Why a command did not do its work, and so its exit code.
#[derive(Debug)]
enum Failure {
    /// Exit 2: the command line is wrong.
    Usage(String),
    /// Exit 1: the store failed, or a check failed.
    Runtime(String),
}

async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::LogoutAll { store, subjects } => {
            check_subjects(&subjects)?;
            let now = Cutoff::ValidFrom(Timestamp::now());
            let (store, timeout) = open(&store).await?;
            for subject in &subjects {
                let stored =
                    bounded(timeout, store.source().raise(Scope::Subject(subject), now)).await?;
                print_line(&format!("{subject}: {stored}"));
            }
            Ok(())
        }
        Command::LogoutEveryone { store } => {
            let now = Cutoff::ValidFrom(Timestamp::now());
            let (store, timeout) = open(&store).await?;
            let stored = bounded(timeout, store.source().raise(Scope::Everyone, now)).await?;
            print_line(&format!("everyone: {stored}"));
            Ok(())
        }
        Command::RevokeSession {
            store,
            subject,
            session,
        } => {
            let scope = Scope::Session {
                subject: &subject,
                session: &session,
            };
            jwt_cutoff_store::check_scope(scope)
                .map_err(|error| Failure::Usage(format!("revoke-session: {error}")))?;
            let (store, timeout) = open(&store).await?;
            let stored = bounded(timeout, store.source().raise(scope, Cutoff::Refused)).await?;
            print_line(&format!("{subject} session {session}: {stored}"));
            Ok(())
        }
        Command::Show {
            store,
            subjects,
            json,
        } => {
            check_subjects(&subjects)?;
            let format = if json { Format::Json } else { Format::Text };
            let (store, timeout) = open(&store).await?;
            let source = store.source();
            let everyone = bounded(timeout, source.stored(Scope::Everyone)).await?;
            print_line(&format.everyone(everyone));
            for subject in &subjects {
                let own = bounded(timeout, source.stored(Scope::Subject(subject))).await?;
                let cutoffs = bounded(timeout, source.lookup(subject)).await?;
                print_line(&format.subject(subject, own, &cutoffs));
            }
            Ok(())
        }
        Command::Inspect {
            token,
            secret_env,
            public_key,
            jwks_url,
            store,
            trusted_issuer,
            options,
        } => {
            let key = match (secret_env, public_key, jwks_url) {
                (Some(name), _, _) => Some(Key::Secret(name)),
                (None, Some(path), _) => Some(Key::PemFile(path)),
                (None, None, Some(url)) => Some(Key::JwksUrl(url)),
                (None, None, None) => None,
            };
            let store = store.map(|url| (url, trusted_issuer));
            inspect(&token, key, store, &options).await
        }
        Command::Watch { store, json } => {
            let format = if json { Format::Json } else { Format::Text };
            let (store, _timeout) = open(&store).await?;
            let watching = store.watch(|change| print_line(&format.change(&change)));
            tokio::select! {
                watched = watching => watched.map_err(Failure::Runtime),
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        }
    }
}

/// Writes one line to stdout; `false` once stdout is closed (piped into `head`, say). The other
/// commands carry on (their writes are what matters), `watch` ends quietly.
fn print_line(line: &str) -> bool {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")
        .and_then(|()| stdout.flush())
        .is_ok()
}

/// Opens the store within the timeout.
async fn open(args: &StoreArgs) -> Result<(store::Store, Duration), Failure> {
    open_url(&args.store, &args.options).await
}

async fn open_url(url: &str, args: &StoreFlags) -> Result<(store::Store, Duration), Failure> {
    let url = StoreUrl::parse(url).map_err(Failure::Usage)?;
    if args.key_prefix.is_empty() {
        return Err(Failure::Usage("--key-prefix: must not be empty".to_owned()));
    }
    let options = StoreOptions {
        table: args.table.clone(),
        key_prefix: args.key_prefix.clone(),
        timeout: args.timeout,
    };
    let store = tokio::time::timeout(args.timeout, url.open(&options))
        .await
        .map_err(|_| timed_out(args.timeout))?
        .map_err(Failure::Runtime)?;
    Ok((store, args.timeout))
}

/// Where `inspect` finds the key that checks the signature.
enum Key {
    /// The HMAC secret in this environment variable.
    Secret(String),
    /// A PEM public key in this file.
    PemFile(PathBuf),
    /// The JWK set at this URL.
    JwksUrl(String),
}

impl Key {
    /// The keys, and the algorithms they may check: the token's own with a secret or a PEM key
    /// (the key refuses it if it does not fit), and only asymmetric ones with a JWK set.
    async fn load(
        self,
        token_algorithm: Algorithm,
        timeout: Duration,
    ) -> Result<(Vec<VerifyingKey>, Vec<Algorithm>), Failure> {
        match self {
            Self::Secret(name) => {
                let secret = std::env::var(&name).map_err(|_| {
                    Failure::Usage(format!("--secret-env: {name} is not set (or not UTF-8)"))
                })?;
                let key = VerifyingKey::hmac(secret.as_bytes())
                    .map_err(|error| Failure::Usage(format!("--secret-env: {error}")))?;
                Ok((vec![key], vec![token_algorithm]))
            }
            Self::PemFile(path) => Ok((vec![public_key_from(&path)?], vec![token_algorithm])),
            Self::JwksUrl(url) => {
                let fetcher = KeyFetcher::builder()
                    .connect_timeout(timeout)
                    .timeout(timeout)
                    .build()
                    .map_err(|error| Failure::Runtime(format!("--jwks-url: {error}")))?;
                let set = fetcher
                    .jwks(&url)
                    .await
                    .map_err(|error| Failure::Runtime(format!("--jwks-url: {error}")))?;
                for skipped in set.skipped() {
                    eprintln!("--jwks-url: skipped {skipped}");
                }
                if set.keys().is_empty() {
                    return Err(Failure::Runtime(format!(
                        "--jwks-url: {url} holds no key that verifies signatures"
                    )));
                }
                Ok((set.into_keys(), Algorithm::ASYMMETRIC.to_vec()))
            }
        }
    }
}

/// `inspect`: prints the token's parts, then each check asked for; a failed check is an error.
/// `store`: the store's URL, and whether the token is judged as a trusted issuer's.
async fn inspect(
    token: &str,
    key: Option<Key>,
    store: Option<(String, bool)>,
    options: &StoreFlags,
) -> Result<(), Failure> {
    let token = if token == "-" {
        let mut read = String::new();
        std::io::stdin()
            .read_to_string(&mut read)
            .map_err(|error| Failure::Runtime(format!("cannot read the token: {error}")))?;
        read.trim().to_owned()
    } else {
        token.to_owned()
    };
    let inspected = Inspected::parse(&token)
        .map_err(|why| Failure::Runtime(format!("malformed token: {why}")))?;
    let signature = match key {
        None => None,
        Some(key) => Some(match inspected.algorithm() {
            Ok(algorithm) => {
                let (keys, algorithms) = key.load(algorithm, options.timeout).await?;
                inspected.check_signature(&token, keys, algorithms).await
            }
            Err(why) => Signature::Invalid(why),
        }),
    };
    print_line(&inspect::describe(&inspected));
    let mut failed = Vec::new();
    if let Some(signature) = signature {
        match signature {
            Signature::Valid(None) => {
                print_line("signature: valid");
            }
            Signature::Valid(Some(note)) => {
                print_line(&format!(
                    "signature: valid (but a service would refuse the token: {note})"
                ));
            }
            Signature::Invalid(why) => {
                print_line(&format!("signature: INVALID: {why}"));
                failed.push("signature");
            }
        }
    }
    if let Some((url, trusted_issuer)) = store {
        let lookups = inspected
            .lookups(trusted_issuer)
            .map_err(Failure::Runtime)?;
        let (store, timeout) = open_url(&url, options).await?;
        let mut revoked = None;
        let mut found = Vec::with_capacity(lookups.len());
        for lookup in &lookups {
            let cutoffs = bounded(timeout, store.source().lookup(&lookup.subject)).await?;
            match inspected
                .judge(lookup, &cutoffs)
                .map_err(Failure::Runtime)?
            {
                Judgement::Admitted => found.push(format!("{}: {cutoffs}", lookup.subject)),
                Judgement::Revoked(cutoff) => {
                    revoked.get_or_insert(format!("{cutoff} (under {})", lookup.subject));
                }
            }
        }
        match revoked {
            None => {
                print_line(&format!("cutoffs: not revoked ({})", found.join("; ")));
            }
            Some(cutoff) => {
                print_line(&format!("revoked: the cutoff that applies is {cutoff}"));
                failed.push("revoked");
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Runtime(format!("failed: {}", failed.join(", "))))
    }
}

/// A PEM public key of any kind jwt-cutoff verifies with.
fn public_key_from(path: &std::path::Path) -> Result<VerifyingKey, Failure> {
    let pem = std::fs::read(path).map_err(|error| {
        Failure::Runtime(format!(
            "--public-key: cannot read {}: {error}",
            path.display()
        ))
    })?;
    VerifyingKey::rsa_pem(&pem)
        .or_else(|_| VerifyingKey::ec_pem(&pem))
        .or_else(|_| VerifyingKey::ed_pem(&pem))
        .map_err(|_| {
            Failure::Usage(format!(
                "--public-key: {} holds no RSA, EC or Ed25519 public key in PEM",
                path.display()
            ))
        })
}

/// Subjects a store would refuse (over the bound) are usage errors, found before anything is
/// written.
fn check_subjects(subjects: &[String]) -> Result<(), Failure> {
    for subject in subjects {
        jwt_cutoff_store::check_subject(subject)
            .map_err(|error| Failure::Usage(format!("SUBJECT: {error}")))?;
    }
    Ok(())
}

/// One store call, within the timeout.
async fn bounded<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T, jwt_cutoff_store::SourceError>>,
) -> Result<T, Failure> {
    tokio::time::timeout(timeout, call)
        .await
        .map_err(|_| timed_out(timeout))?
        .map_err(|error| Failure::Runtime(format!("the store failed: {error}")))
}

fn timed_out(timeout: Duration) -> Failure {
    Failure::Runtime(format!("the store did not answer within {timeout:?}"))
}

/// A duration like `10s`, `500ms`, `2m`; at least one millisecond.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not a duration like 10s, 500ms or 2m");
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        _ => return Err(invalid()),
    };
    let millis = number.checked_mul(millis_per_unit).ok_or_else(invalid)?;
    (millis > 0)
        .then(|| Duration::from_millis(millis))
        .ok_or_else(invalid)
}

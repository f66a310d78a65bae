//! `jwt-cutoff-soak`: the load generator behind `scripts/soak`.
//!
//! Against a running `jwt-cutoff-demo` (loopback only), it signs up users, logs each in once, then
//! keeps `--connections` keep-alive connections (one task each) busy for `--duration` seconds with
//! `GET /api/me` carrying valid, expired, forged, garbage and revoked tokens, plus a paced share of
//! logins, while a separate task logs a set of users out from all devices again and again, and
//! refreshers exchange refresh tokens the way busy clients do (several tabs at once, a retry of
//! an answer that was lost), none of which may sign a session out as "reuse". Every answer is
//! checked against what it must be; the report is a table of counts and latencies, and
//! the demo's peak memory when `--demo-pid` is given. Exit code 1 when any decision was wrong.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use hyper::header::HeaderValue;
use serde_json::{Value, json};

mod client;
mod demo_process;
mod stats;
mod tokens;

use client::{Answer, Conn};
use stats::{Expect, Kind, KindStats, Stats};
use tokens::{Minter, Rng};

/// Soak the jwt-cutoff demo: many connections, every answer checked.
#[derive(Debug, Parser)]
#[command(name = "jwt-cutoff-soak")]
struct Flags {
    /// The demo's HTTP address (loopback only), e.g. 127.0.0.1:8080.
    #[arg(long)]
    addr: SocketAddr,
    /// The demo's access-token secret, to mint expired tokens and the logout task's tokens.
    #[arg(long, env = "JWT_CUTOFF_DEMO_ACCESS_SECRET", hide_env_values = true)]
    access_secret: String,
    /// Concurrent keep-alive connections, one task each.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Users signed up before the run.
    #[arg(long, default_value_t = 200)]
    users: usize,
    /// How many of them are logged out from all devices again and again during the run.
    #[arg(long, default_value_t = 50)]
    revoked_users: usize,
    /// Sign-ups and logins in flight at once before the run (argon2 is slow on purpose).
    #[arg(long, default_value_t = 8)]
    setup_concurrency: usize,
    /// Logins of fresh sessions per second during the run, spread over the connections.
    #[arg(long, default_value_t = 5.0)]
    login_rate: f64,
    /// Tasks that log users out, each with its own connection, one logout at a time.
    #[arg(long, default_value_t = 2)]
    logout_tasks: usize,
    /// Pause of a logout task between two logouts, in milliseconds.
    #[arg(long, default_value_t = 20)]
    logout_pause_ms: u64,
    /// Refreshers: each logs a user in once, then refreshes its session again and again, in
    /// rounds of concurrent refreshes with one token and retries of a refresh whose answer it
    /// "lost". Of each round exactly one refresh must succeed, and the session must keep working.
    #[arg(long, default_value_t = 20)]
    refreshers: usize,
    /// Concurrent refreshes with one token in a round (each on its own connection).
    #[arg(long, default_value_t = 3)]
    refresh_burst: usize,
    /// Shares of the `GET /api/me` mix: valid,revoked,expired,forged,garbage.
    #[arg(long, default_value = "40,25,10,10,15", value_parser = parse_mix)]
    mix: Mix,
    /// Seconds before a request without an answer counts as a transport error.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// The demo's process id: its peak memory (VmHWM) and CPU time are read from /proc.
    #[arg(long)]
    demo_pid: Option<u32>,
}

/// Cumulative shares of valid, revoked, expired, forged and garbage requests.
#[derive(Clone, Debug)]
struct Mix {
    bounds: [u64; 5],
}

fn parse_mix(text: &str) -> Result<Mix, String> {
    let weights: Vec<u64> = text
        .split(',')
        .map(|part| {
            part.trim()
                .parse::<u64>()
                .map_err(|error| format!("{part:?}: {error}"))
        })
        .collect::<Result<_, _>>()?;
    let [valid, revoked, expired, forged, garbage] = weights.as_slice() else {
        return Err("five weights: valid,revoked,expired,forged,garbage".to_owned());
    };
    let mut bounds = [0; 5];
    let mut total = 0;
    for (bound, weight) in bounds
        .iter_mut()
        .zip([valid, revoked, expired, forged, garbage])
    {
        total += weight;
        *bound = total;
    }
    if total == 0 {
        return Err("the weights add up to 0".to_owned());
    }
    Ok(Mix { bounds })
}

impl Mix {
    fn pick(&self, rng: &mut Rng) -> Kind {
        let total = self.bounds.last().copied().unwrap_or(1).max(1);
        let roll = rng.next() % total;
        let kinds = [
            Kind::Valid,
            Kind::Revoked,
            Kind::Expired,
            Kind::Forged,
            Kind::Garbage,
        ];
        self.bounds
            .iter()
            .zip(kinds)
            .find(|(bound, _)| roll < **bound)
            .map_or(Kind::Valid, |(_, kind)| kind)
    }
}

/// A token the demo issued, and when: it was minted between `asked` and `got`.
#[derive(Debug)]
struct Issued {
    header: HeaderValue,
    asked: Instant,
    got: Instant,
}

/// One logout from all devices: the cutoff it set lies between `sent` and `returned`.
#[derive(Clone, Copy, Debug)]
struct Logout {
    sent: Instant,
    /// When the answer came; `None` while in flight, or forever after a transport error.
    returned: Option<Instant>,
    /// The answer was 204: the cutoff is in force since `returned`.
    confirmed: bool,
}

/// Sessions kept per user: the first login's, plus this many recent ones.
const RECENT_SESSIONS: usize = 6;

#[derive(Debug)]
struct User {
    id: String,
    name: String,
    password: String,
    /// Logged out again and again during the run.
    revoked: bool,
    /// The first login's token stays at index 0; fresh logins rotate behind it.
    sessions: RwLock<Vec<Arc<Issued>>>,
    logouts: RwLock<Vec<Logout>>,
}

impl User {
    fn session(&self, rng: &mut Rng) -> Option<Arc<Issued>> {
        let sessions = self.sessions.read().unwrap_or_else(PoisonError::into_inner);
        rng.pick(&sessions).cloned()
    }

    fn add_session(&self, issued: Issued) {
        let mut sessions = self
            .sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if sessions.len() > RECENT_SESSIONS {
            sessions.remove(1);
        }
        sessions.push(Arc::new(issued));
    }

    /// What the answer to a request with `token`, sent at `sent` and answered at `answered`, had
    /// to be: refused if a logout made after the token was issued had returned before the request
    /// left; accepted if every logout that could have applied returned before the token was asked
    /// for; otherwise either.
    fn expect(&self, token: &Issued, sent: Instant, answered: Instant) -> Expect {
        let logouts = self.logouts.read().unwrap_or_else(PoisonError::into_inner);
        let refused = logouts.iter().any(|logout| {
            logout.confirmed
                && logout.returned.is_some_and(|returned| returned < sent)
                && token.got <= logout.sent
        });
        if refused {
            return Expect::Refuse;
        }
        let accepted = logouts
            .iter()
            .filter(|logout| logout.sent < answered)
            .all(|logout| {
                logout
                    .returned
                    .is_some_and(|returned| returned <= token.asked)
            });
        if accepted {
            Expect::Accept
        } else {
            Expect::Either
        }
    }
}

/// A prepared `GET /api/me`: its `Authorization` headers and what it is.
#[derive(Debug)]
struct Probe {
    label: &'static str,
    headers: Vec<HeaderValue>,
}

/// What every task reads.
struct Shared {
    addr: SocketAddr,
    host: HeaderValue,
    timeout: Duration,
    users: Vec<Arc<User>>,
    stable: Vec<Arc<User>>,
    revoked: Vec<Arc<User>>,
    expired: Vec<Probe>,
    forged: Vec<Probe>,
    garbage: Vec<Probe>,
    mix: Mix,
    login_rate: f64,
    logins: AtomicU64,
    minter: Minter,
}

impl Shared {
    /// Whether a login is due now, to keep to `login_rate` per second since `start`.
    fn take_login(&self, start: Instant) -> bool {
        let due = (start.elapsed().as_secs_f64() * self.login_rate) as u64;
        self.logins
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |done| {
                (done < due).then_some(done + 1)
            })
            .is_ok()
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let flags = Flags::parse();
    match run(flags).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

async fn run(flags: Flags) -> Result<bool, String> {
    if !flags.addr.ip().is_loopback() {
        return Err(format!("--addr {}: only loopback addresses", flags.addr));
    }
    if flags.revoked_users >= flags.users {
        return Err("--revoked-users must be below --users".to_owned());
    }
    let host = HeaderValue::from_str(&flags.addr.to_string()).map_err(|error| error.to_string())?;
    let timeout = Duration::from_secs(flags.timeout);
    let minter = Minter::new(flags.access_secret.as_bytes())?;

    // Users, signed up and logged in once each, before the clock starts.
    let setup_started = Instant::now();
    let tag = format!("soak{}", tokens::now_secs() as u64 % 1_000_000);
    let users = setup_users(&flags, &host, &tag).await?;
    eprintln!(
        "set up {} users ({} to be logged out during the run) in {:.1} s",
        users.len(),
        flags.revoked_users,
        setup_started.elapsed().as_secs_f64()
    );
    let (revoked, stable): (Vec<_>, Vec<_>) = users.iter().cloned().partition(|user| user.revoked);
    let shared = Arc::new(prepare(
        &flags, host, timeout, minter, users, stable, revoked,
    )?);

    let before = flags.demo_pid.map(demo_process::Sample::take);
    let peak_reset = flags.demo_pid.is_some_and(demo_process::reset_peak);
    let load_before = demo_process::load_average();
    let self_before = demo_process::cpu_seconds_self();

    // Connect everything, then start the clock.
    let duration = Duration::from_secs(flags.duration);
    let (start_tx, start_rx) = tokio::sync::watch::channel(None::<Instant>);
    let connected = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(flags.connections);
    for index in 0..flags.connections {
        let shared = Arc::clone(&shared);
        let mut start_rx = start_rx.clone();
        let connected = Arc::clone(&connected);
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(shared.addr, shared.host.clone());
            if conn.connect().await.is_ok() {
                connected.fetch_add(1, Ordering::Relaxed);
            }
            let Ok(start) = start_rx.wait_for(Option::is_some).await.map(|start| *start) else {
                return Stats::default();
            };
            let Some(start) = start else {
                return Stats::default();
            };
            connection_task(&shared, conn, index as u64, start, start + duration).await
        }));
    }
    let connect_deadline = Instant::now() + Duration::from_secs(30);
    while connected.load(Ordering::Relaxed) < flags.connections && Instant::now() < connect_deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "{} of {} connections open; running for {} s",
        connected.load(Ordering::Relaxed),
        flags.connections,
        flags.duration
    );
    let start = Instant::now();
    let _ = start_tx.send(Some(start));
    let deadline = start + duration;
    let mut logout_tasks = Vec::new();
    for index in 0..flags.logout_tasks {
        let shared = Arc::clone(&shared);
        let pause = Duration::from_millis(flags.logout_pause_ms);
        let count = flags.logout_tasks;
        logout_tasks.push(tokio::spawn(async move {
            logout_task(&shared, index, count, pause, deadline).await
        }));
    }

    for index in 0..flags.refreshers {
        let shared = Arc::clone(&shared);
        let burst = flags.refresh_burst.max(2);
        logout_tasks.push(tokio::spawn(async move {
            refresh_task(&shared, index, burst, deadline).await
        }));
    }

    let mut stats = Stats::default();
    for task in tasks.into_iter().chain(logout_tasks) {
        match task.await {
            Ok(task_stats) => stats.merge(task_stats),
            Err(error) => return Err(format!("a task failed: {error}")),
        }
    }
    let elapsed = start.elapsed();
    let after = flags.demo_pid.map(demo_process::Sample::take);
    let load_after = demo_process::load_average();
    let self_cpu = demo_process::cpu_seconds_self()
        .zip(self_before)
        .map(|(after, before)| after - before);

    let requests = stats.load_requests();
    let logouts = stats.kind(Kind::Logout).requests;
    let refreshes = stats.kind(Kind::Refresh).requests;
    println!();
    println!(
        "jwt-cutoff soak: {} connections for {} s against http://{} ({} users: {} never logged out, {} logged out again and again)",
        flags.connections,
        flags.duration,
        flags.addr,
        shared.users.len(),
        shared.stable.len(),
        shared.revoked.len()
    );
    println!();
    print!("{}", stats.table());
    println!();
    println!(
        "requests: {requests} in {:.1} s = {:.0}/s (plus {logouts} logouts = {:.1}/s, {refreshes} refreshes by {} refreshers = {:.1}/s); transport errors {}; wrong decisions {}; unexpected statuses {}; reconnects {}",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        logouts as f64 / elapsed.as_secs_f64(),
        flags.refreshers,
        refreshes as f64 / elapsed.as_secs_f64(),
        stats.transport_errors(),
        stats.wrong(),
        stats.unexpected(),
        stats.reconnects,
    );
    print!("{}", stats.details());
    println!(
        "load average (1, 5, 15 min): before {}, after {}",
        load_before.as_deref().unwrap_or("?"),
        load_after.as_deref().unwrap_or("?")
    );
    if let Some(cpu) = self_cpu {
        println!("this tool's CPU time (whole process, setup included): {cpu:.1} s");
    }
    if let (Some(Some(before)), Some(Some(after))) = (before, after) {
        println!(
            "demo process: peak RSS (VmHWM) {} during the run{}; {} at the end of setup (argon2 sign-ups and logins); RSS now {}; threads {}; CPU time during the run {:.1} s ({:.0} % of one core)",
            demo_process::mib(after.peak_kib),
            if peak_reset {
                ""
            } else {
                " (could not reset after setup: includes setup)"
            },
            demo_process::mib(before.peak_kib),
            demo_process::mib(after.rss_kib),
            after.threads,
            after.cpu_secs - before.cpu_secs,
            100.0 * (after.cpu_secs - before.cpu_secs) / elapsed.as_secs_f64(),
        );
    }
    Ok(stats.wrong() == 0 && stats.unexpected() == 0)
}

/// Signs up and logs in `--users` users, `--setup-concurrency` at a time.
async fn setup_users(
    flags: &Flags,
    host: &HeaderValue,
    tag: &str,
) -> Result<Vec<Arc<User>>, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let total = flags.users;
    let mut workers = Vec::new();
    for _ in 0..flags.setup_concurrency.max(1) {
        let next = Arc::clone(&next);
        let mut conn = Conn::new(flags.addr, host.clone());
        let timeout = Duration::from_secs(flags.timeout.max(30));
        let tag = tag.to_owned();
        let revoked_below = flags.revoked_users;
        workers.push(tokio::spawn(async move {
            let mut made = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= total {
                    return Ok::<_, String>(made);
                }
                let name = format!("{tag}-{index}");
                let password = format!("password-{tag}-{index}");
                let credentials =
                    Bytes::from(json!({ "username": name, "password": password }).to_string());
                let answer = conn.post("/auth/signup", &[], credentials, timeout).await?;
                let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
                let Some(id) = body
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|_| answer.status == 201)
                else {
                    return Err(format!(
                        "sign-up of {name}: {} {}",
                        answer.status,
                        lossy(&answer.body)
                    ));
                };
                let user = User {
                    id: id.to_owned(),
                    name,
                    password,
                    revoked: index < revoked_below,
                    sessions: RwLock::new(Vec::new()),
                    logouts: RwLock::new(Vec::new()),
                };
                let asked = Instant::now();
                let answer = login(&mut conn, &user, timeout).await?;
                let (access, refresh) = tokens_of(&answer).ok_or_else(|| {
                    format!(
                        "login of {}: {} {}",
                        user.name,
                        answer.status,
                        lossy(&answer.body)
                    )
                })?;
                user.add_session(Issued {
                    header: tokens::bearer("Bearer", &access)?,
                    asked,
                    got: Instant::now(),
                });
                made.push((index, Arc::new(user), access, refresh));
            }
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.map_err(|error| error.to_string())??);
    }
    all.sort_by_key(|(index, ..)| *index);
    GENUINE
        .set(
            all.iter()
                .map(|(_, user, access, refresh)| {
                    (user.id.clone(), access.clone(), refresh.clone())
                })
                .collect(),
        )
        .map_err(|_| "set up twice".to_owned())?;
    Ok(all.into_iter().map(|(_, user, ..)| user).collect())
}

/// Each user's first access and refresh token, for the forgeries built from them.
static GENUINE: std::sync::OnceLock<Vec<(String, String, String)>> = std::sync::OnceLock::new();

async fn login(conn: &mut Conn, user: &User, timeout: Duration) -> Result<Answer, String> {
    let credentials =
        Bytes::from(json!({ "username": user.name, "password": user.password }).to_string());
    conn.post("/auth/login", &[], credentials, timeout).await
}

/// The access and refresh tokens of a 200 answer to a login.
fn tokens_of(answer: &Answer) -> Option<(String, String)> {
    if answer.status != 200 {
        return None;
    }
    let body: Value = serde_json::from_slice(&answer.body).ok()?;
    let access = body.get("access_token")?.as_str()?.to_owned();
    let refresh = body.get("refresh_token")?.as_str()?.to_owned();
    Some((access, refresh))
}

fn lossy(body: &[u8]) -> String {
    String::from_utf8_lossy(body.get(..200).unwrap_or(body)).into_owned()
}

/// The prepared probes: expired, forged and garbage headers.
fn prepare(
    flags: &Flags,
    host: HeaderValue,
    timeout: Duration,
    minter: Minter,
    users: Vec<Arc<User>>,
    stable: Vec<Arc<User>>,
    revoked: Vec<Arc<User>>,
) -> Result<Shared, String> {
    let mut rng = Rng::new(0x50A6);
    let genuine = GENUINE.get().ok_or("no tokens from the set-up")?;
    let stable_genuine: Vec<&(String, String, String)> = genuine
        .iter()
        .filter(|(id, ..)| stable.iter().any(|user| &user.id == id))
        .collect();

    let mut expired = Vec::new();
    for user in stable.iter().take(100) {
        for ago in [30, 600, 86_400] {
            let token = minter.expired(&user.id, &user.name, ago + rng.below(20) as i64)?;
            expired.push(Probe {
                label: "expired",
                headers: vec![tokens::bearer("Bearer", &token)?],
            });
        }
    }

    let mut forged = Vec::new();
    for pair in stable_genuine.windows(2).take(50) {
        let (Some((id, access, refresh)), Some((other_id, ..))) = (pair.first(), pair.get(1))
        else {
            continue;
        };
        let Some(user) = stable.iter().find(|user| &user.id == id) else {
            continue;
        };
        for (label, token) in minter.forgeries(id, &user.name, access, refresh, other_id)? {
            forged.push(Probe {
                label,
                headers: vec![tokens::bearer("Bearer", &token)?],
            });
        }
    }

    let accesses: Vec<String> = stable_genuine
        .iter()
        .map(|(_, access, _)| access.clone())
        .collect();
    let garbage = tokens::garbage(&mut rng, &accesses)?
        .into_iter()
        .map(|(label, headers)| Probe { label, headers })
        .collect();

    Ok(Shared {
        addr: flags.addr,
        host,
        timeout,
        users,
        stable,
        revoked,
        expired,
        forged,
        garbage,
        mix: flags.mix.clone(),
        login_rate: flags.login_rate,
        logins: AtomicU64::new(0),
        minter,
    })
}

/// One connection's loop until `deadline`.
async fn connection_task(
    shared: &Shared,
    mut conn: Conn,
    seed: u64,
    start: Instant,
    deadline: Instant,
) -> Stats {
    let mut rng = Rng::new(seed + 1);
    let mut stats = Stats::default();
    while Instant::now() < deadline {
        if shared.take_login(start) {
            do_login(shared, &mut conn, &mut rng, stats.kind(Kind::Login)).await;
            continue;
        }
        match shared.mix.pick(&mut rng) {
            Kind::Valid => {
                if let Some(user) = rng.pick(&shared.stable) {
                    session_request(shared, &mut conn, &mut rng, user, stats.kind(Kind::Valid))
                        .await;
                }
            }
            Kind::Revoked => {
                if let Some(user) = rng.pick(&shared.revoked) {
                    session_request(shared, &mut conn, &mut rng, user, stats.kind(Kind::Revoked))
                        .await;
                }
            }
            kind @ (Kind::Expired | Kind::Forged | Kind::Garbage) => {
                let probes = match kind {
                    Kind::Expired => &shared.expired,
                    Kind::Forged => &shared.forged,
                    _ => &shared.garbage,
                };
                if let Some(probe) = rng.pick(probes) {
                    probe_request(shared, &mut conn, probe, kind, stats.kind(kind)).await;
                }
            }
            Kind::Login | Kind::Logout | Kind::Refresh => {}
        }
    }
    stats.reconnects = conn.connects.saturating_sub(1);
    stats
}

/// `GET /api/me` with one of the user's sessions, judged against the logouts.
async fn session_request(
    shared: &Shared,
    conn: &mut Conn,
    rng: &mut Rng,
    user: &User,
    stats: &mut KindStats,
) {
    let Some(session) = user.session(rng) else {
        return;
    };
    // Now and then spell the scheme in other cases: it is case-insensitive.
    let header = match rng.below(20) {
        0 => session
            .header
            .to_str()
            .ok()
            .and_then(|text| HeaderValue::from_str(&text.replacen("Bearer", "bearer", 1)).ok()),
        1 => session
            .header
            .to_str()
            .ok()
            .and_then(|text| HeaderValue::from_str(&text.replacen("Bearer", "BEARER", 1)).ok()),
        _ => None,
    }
    .unwrap_or_else(|| session.header.clone());
    let sent = Instant::now();
    let result = conn
        .get("/api/me", std::slice::from_ref(&header), shared.timeout)
        .await;
    let answered = Instant::now();
    let answer = match result {
        Ok(answer) => answer,
        Err(error) => return stats.failed(&error),
    };
    stats.answered(answer.status.as_u16(), answered - sent);
    let expect = user.expect(&session, sent, answered);
    let status = answer.status.as_u16();
    let accepted = answer.status.is_success();
    match expect {
        Expect::Accept => {
            stats.must_accept += 1;
            let subject = format!("\"sub\":\"{}\"", user.id);
            let right_subject = lossy_contains(&answer.body, &subject);
            if status != 200 || !right_subject {
                stats.wrong += 1;
                stats.example(|| {
                    format!(
                        "{} (user {}) had to be accepted: {status} {}",
                        describe(user, &session, sent),
                        user.name,
                        lossy(&answer.body)
                    )
                });
            }
        }
        Expect::Refuse => {
            stats.must_refuse += 1;
            if accepted {
                stats.wrong += 1;
                stats.example(|| {
                    format!(
                        "{} had to be refused: {status} {}",
                        describe(user, &session, sent),
                        lossy(&answer.body)
                    )
                });
            } else if status != 401 {
                stats.unexpected += 1;
                stats.example(|| {
                    format!(
                        "{} refused with {status}: {}",
                        describe(user, &session, sent),
                        lossy(&answer.body)
                    )
                });
            } else if !lossy_contains(&answer.body, "revoked") {
                stats.other_reason += 1;
            }
        }
        Expect::Either => {
            stats.either += 1;
            if status != 200 && status != 401 {
                stats.unexpected += 1;
                stats.example(|| {
                    format!(
                        "{} answered {status}: {}",
                        describe(user, &session, sent),
                        lossy(&answer.body)
                    )
                });
            }
        }
    }
}

fn describe(user: &User, session: &Issued, sent: Instant) -> String {
    let logouts = user.logouts.read().unwrap_or_else(PoisonError::into_inner);
    let relative = |at: Instant| -> String {
        if at >= sent {
            format!("+{:.3}ms", (at - sent).as_secs_f64() * 1e3)
        } else {
            format!("-{:.3}ms", (sent - at).as_secs_f64() * 1e3)
        }
    };
    let recent: Vec<String> = logouts
        .iter()
        .rev()
        .take(3)
        .map(|logout| {
            format!(
                "[sent {} returned {} {}]",
                relative(logout.sent),
                logout.returned.map_or_else(|| "never".to_owned(), relative),
                if logout.confirmed { "204" } else { "not 204" }
            )
        })
        .collect();
    format!(
        "token of {} asked {} got {} (times relative to the request), last logouts {}",
        user.name,
        relative(session.asked),
        relative(session.got),
        recent.join(" ")
    )
}

fn lossy_contains(body: &[u8], needle: &str) -> bool {
    body.windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// `GET /api/me` with a prepared header: expired and forged must get 401, garbage 400 or 401.
async fn probe_request(
    shared: &Shared,
    conn: &mut Conn,
    probe: &Probe,
    kind: Kind,
    stats: &mut KindStats,
) {
    let sent = Instant::now();
    let result = conn.get("/api/me", &probe.headers, shared.timeout).await;
    let answer = match result {
        Ok(answer) => answer,
        Err(error) => return stats.failed(&format!("{}: {error}", probe.label)),
    };
    let status = answer.status.as_u16();
    stats.answered(status, sent.elapsed());
    if answer.status.is_success() {
        stats.wrong += 1;
        stats.example(|| format!("{} accepted: {status} {}", probe.label, lossy(&answer.body)));
        return;
    }
    let expected = match kind {
        Kind::Garbage => status == 400 || status == 401,
        _ => status == 401,
    };
    if !expected {
        stats.unexpected += 1;
        stats.example(|| {
            format!(
                "{} refused with {status}: {}",
                probe.label,
                lossy(&answer.body)
            )
        });
    }
}

/// `POST /auth/login` for a random user; the new session joins the user's.
async fn do_login(shared: &Shared, conn: &mut Conn, rng: &mut Rng, stats: &mut KindStats) {
    let Some(user) = rng.pick(&shared.users) else {
        return;
    };
    let asked = Instant::now();
    let answer = match login(conn, user, shared.timeout).await {
        Ok(answer) => answer,
        Err(error) => return stats.failed(&error),
    };
    let got = Instant::now();
    stats.answered(answer.status.as_u16(), got - asked);
    let issued = tokens_of(&answer).and_then(|(access, _)| tokens::bearer("Bearer", &access).ok());
    match issued {
        Some(header) => user.add_session(Issued { header, asked, got }),
        None => {
            stats.wrong += 1;
            stats.example(|| {
                format!(
                    "login of {}: {} {}",
                    user.name,
                    answer.status,
                    lossy(&answer.body)
                )
            });
        }
    }
}

/// Logs a never-logged-out user in once, then refreshes that session until `deadline`, in rounds:
/// `burst` concurrent refreshes with the current token (exactly one 200, the others 401), or one
/// refresh whose answer is "lost" and retried at once (401, a race within the grace window). After
/// each round the winner's access token must still work: a retry is never reuse.
async fn refresh_task(shared: &Shared, task: usize, burst: usize, deadline: Instant) -> Stats {
    let mut stats = Stats::default();
    let Some(user) = shared.stable.get(task % shared.stable.len().max(1)) else {
        return stats;
    };
    let mut conns: Vec<Conn> = (0..burst)
        .map(|_| Conn::new(shared.addr, shared.host.clone()))
        .collect();
    let Some(first) = conns.first_mut() else {
        return stats;
    };
    let pair = match login(first, user, shared.timeout).await {
        Ok(answer) => tokens_of(&answer),
        Err(error) => {
            stats.kind(Kind::Refresh).failed(&error);
            return stats;
        }
    };
    let Some((_, mut refresh_token)) = pair else {
        stats.kind(Kind::Refresh).unexpected += 1;
        return stats;
    };
    let mut round = 0_u64;
    while Instant::now() < deadline {
        round += 1;
        let concurrent = if round.is_multiple_of(2) { burst } else { 1 };
        let body = Bytes::from(json!({ "refresh_token": refresh_token }).to_string());
        let sent = Instant::now();
        let requests: Vec<_> = conns
            .drain(..)
            .enumerate()
            .map(|(n, mut conn)| {
                let (body, timeout) = (body.clone(), shared.timeout);
                tokio::spawn(async move {
                    let answer = if n < concurrent {
                        Some(conn.post("/auth/refresh", &[], body, timeout).await)
                    } else {
                        None
                    };
                    (conn, answer)
                })
            })
            .collect();
        let mut winners = Vec::new();
        let mut refused = 0;
        for request in requests {
            let Ok((conn, answer)) = request.await else {
                stats.kind(Kind::Refresh).failed("a refresh task panicked");
                return stats;
            };
            conns.push(conn);
            let stats = stats.kind(Kind::Refresh);
            match answer {
                None => {}
                Some(Err(error)) => stats.failed(&error),
                Some(Ok(answer)) => {
                    stats.answered(answer.status.as_u16(), sent.elapsed());
                    match tokens_of(&answer) {
                        Some(pair) => winners.push(pair),
                        None if answer.status.as_u16() == 401 => refused += 1,
                        None => {
                            stats.unexpected += 1;
                            stats.example(|| {
                                format!("refresh: {} {}", answer.status, lossy(&answer.body))
                            });
                        }
                    }
                }
            }
        }
        let stats = stats.kind(Kind::Refresh);
        if winners.len() != 1 || refused != concurrent - 1 {
            stats.wrong += 1;
            stats.example(|| {
                format!(
                    "{}: {concurrent} concurrent refreshes, {} succeeded, {refused} refused",
                    user.name,
                    winners.len()
                )
            });
            return Stats::from_kind(Kind::Refresh, std::mem::take(stats));
        }
        let Some((access, next)) = winners.pop() else {
            return Stats::from_kind(Kind::Refresh, std::mem::take(stats));
        };
        let Some(conn) = conns.first_mut() else {
            break;
        };
        if concurrent == 1 {
            // The answer was "lost": the client retries with the token it still has.
            let retry = Bytes::from(json!({ "refresh_token": refresh_token }).to_string());
            let asked = Instant::now();
            match conn.post("/auth/refresh", &[], retry, shared.timeout).await {
                Ok(answer) => {
                    stats.answered(answer.status.as_u16(), asked.elapsed());
                    if answer.status.as_u16() != 401 {
                        stats.wrong += 1;
                        stats.example(|| {
                            format!(
                                "{}: a spent token refreshed again: {}",
                                user.name, answer.status
                            )
                        });
                    }
                }
                Err(error) => stats.failed(&error),
            }
        }
        // The session keeps working: neither a race nor a retry is reuse.
        let header = match tokens::bearer("Bearer", &access) {
            Ok(header) => header,
            Err(error) => {
                stats.failed(&error);
                break;
            }
        };
        match conn.get("/api/me", &[header], shared.timeout).await {
            Ok(answer) if answer.status.as_u16() == 200 => {}
            Ok(answer) => {
                stats.wrong += 1;
                stats.example(|| {
                    format!(
                        "{}: the session was signed out after a refresh round: {} {}",
                        user.name,
                        answer.status,
                        lossy(&answer.body)
                    )
                });
            }
            Err(error) => stats.failed(&error),
        }
        refresh_token = next;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stats
}

/// Logs out the revoked users with `index % count == task`, one after another, until `deadline`.
async fn logout_task(
    shared: &Shared,
    task: usize,
    count: usize,
    pause: Duration,
    deadline: Instant,
) -> Stats {
    let mut stats = Stats::default();
    let mine: Vec<&Arc<User>> = shared
        .revoked
        .iter()
        .skip(task)
        .step_by(count.max(1))
        .collect();
    let mut conn = Conn::new(shared.addr, shared.host.clone());
    let mut turn = 0usize;
    while Instant::now() < deadline && !mine.is_empty() {
        let Some(user) = mine.get(turn % mine.len()) else {
            break;
        };
        turn += 1;
        let stats = stats.kind(Kind::Logout);
        // A token of our own making, issued now, after the previous logout of this user returned.
        let header = match shared
            .minter
            .valid_now(&user.id, &user.name)
            .and_then(|token| tokens::bearer("Bearer", &token))
        {
            Ok(header) => header,
            Err(error) => {
                stats.failed(&error);
                break;
            }
        };
        let slot = {
            let mut logouts = user.logouts.write().unwrap_or_else(PoisonError::into_inner);
            logouts.push(Logout {
                sent: Instant::now(),
                returned: None,
                confirmed: false,
            });
            logouts.len() - 1
        };
        let sent = Instant::now();
        let result = conn
            .post(
                "/auth/logout-all",
                std::slice::from_ref(&header),
                Bytes::new(),
                shared.timeout,
            )
            .await;
        let returned = Instant::now();
        match result {
            Ok(answer) => {
                stats.answered(answer.status.as_u16(), returned - sent);
                let confirmed = answer.status.as_u16() == 204;
                if let Some(logout) = user
                    .logouts
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_mut(slot)
                {
                    logout.returned = Some(returned);
                    logout.confirmed = confirmed;
                }
                if !confirmed {
                    stats.unexpected += 1;
                    stats.example(|| {
                        format!(
                            "logout of {}: {} {}",
                            user.name,
                            answer.status,
                            lossy(&answer.body)
                        )
                    });
                }
            }
            // The logout may or may not have happened: this user's tokens stay "either" from now on.
            Err(error) => stats.failed(&error),
        }
        tokio::time::sleep(pause).await;
    }
    stats.reconnects = conn.connects.saturating_sub(1);
    stats
}

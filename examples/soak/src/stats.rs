//! Counters and latencies, kept per task and merged at the end, and the final table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// What a request was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// `GET /api/me` with a token of a user who is never logged out: 200.
    Valid,
    /// `GET /api/me` with a token of a user who is logged out again and again: 401 once a logout
    /// made after the token was issued has returned, 200 before any logout could apply, else either.
    Revoked,
    /// `GET /api/me` with a well-signed token past its `exp`: 401.
    Expired,
    /// `GET /api/me` with a forged token: 401.
    Forged,
    /// `GET /api/me` with a malformed, oversized or doubled header, or none: 400 or 401.
    Garbage,
    /// `POST /auth/login` for a fresh session: 200 with tokens.
    Login,
    /// `POST /auth/logout-all`, by the logout task: 204.
    Logout,
    /// `POST /auth/refresh` by a refresher: of concurrent refreshes with one token exactly one 200,
    /// a retry of a lost answer 401, and the session never revoked for it.
    Refresh,
}

impl Kind {
    pub(crate) const ALL: [Self; 8] = [
        Self::Valid,
        Self::Revoked,
        Self::Expired,
        Self::Forged,
        Self::Garbage,
        Self::Login,
        Self::Logout,
        Self::Refresh,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Revoked => "revoked users",
            Self::Expired => "expired",
            Self::Forged => "forged",
            Self::Garbage => "garbage",
            Self::Login => "login",
            Self::Logout => "logout-all",
            Self::Refresh => "refresh",
        }
    }
}

/// For tokens of users who get logged out: what the answer had to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    Accept,
    Refuse,
    Either,
}

/// The counts of one kind.
#[derive(Debug, Default)]
pub(crate) struct KindStats {
    pub(crate) requests: u64,
    pub(crate) transport_errors: u64,
    /// Accepted when it had to be refused, or refused when it had to be accepted.
    pub(crate) wrong: u64,
    /// Right decision, but a status outside the expected ones (e.g. 400 where 401 was due).
    pub(crate) unexpected: u64,
    /// Revoked users: how many answers had to be a refusal, an acceptance, or could be either.
    pub(crate) must_refuse: u64,
    pub(crate) must_accept: u64,
    pub(crate) either: u64,
    /// Refusals of revoked tokens whose reason was not "revoked" (informational).
    pub(crate) other_reason: u64,
    pub(crate) statuses: BTreeMap<u16, u64>,
    /// Microseconds, one per answered request.
    pub(crate) latencies: Vec<u32>,
    /// The first few wrong or unexpected answers, and transport errors, described.
    pub(crate) examples: Vec<String>,
}

const MAX_EXAMPLES: usize = 8;

impl KindStats {
    pub(crate) fn answered(&mut self, status: u16, latency: Duration) {
        self.requests += 1;
        *self.statuses.entry(status).or_default() += 1;
        self.latencies
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
    }

    pub(crate) fn failed(&mut self, error: &str) {
        self.requests += 1;
        self.transport_errors += 1;
        self.example(|| format!("transport error: {error}"));
    }

    pub(crate) fn example(&mut self, describe: impl FnOnce() -> String) {
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(describe());
        }
    }

    fn merge(&mut self, other: Self) {
        self.requests += other.requests;
        self.transport_errors += other.transport_errors;
        self.wrong += other.wrong;
        self.unexpected += other.unexpected;
        self.must_refuse += other.must_refuse;
        self.must_accept += other.must_accept;
        self.either += other.either;
        self.other_reason += other.other_reason;
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.latencies.extend(other.latencies);
        for example in other.examples {
            self.example(|| example);
        }
    }
}

/// The counts of every kind.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    valid: KindStats,
    revoked: KindStats,
    expired: KindStats,
    forged: KindStats,
    garbage: KindStats,
    login: KindStats,
    logout: KindStats,
    refresh: KindStats,
    /// Connections opened beyond the first per task.
    pub(crate) reconnects: u64,
}

impl Stats {
    /// The counts of one kind alone.
    pub(crate) fn from_kind(kind: Kind, counts: KindStats) -> Self {
        let mut stats = Self::default();
        *stats.kind(kind) = counts;
        stats
    }

    pub(crate) fn kind(&mut self, kind: Kind) -> &mut KindStats {
        match kind {
            Kind::Valid => &mut self.valid,
            Kind::Revoked => &mut self.revoked,
            Kind::Expired => &mut self.expired,
            Kind::Forged => &mut self.forged,
            Kind::Garbage => &mut self.garbage,
            Kind::Login => &mut self.login,
            Kind::Logout => &mut self.logout,
            Kind::Refresh => &mut self.refresh,
        }
    }

    fn kinds(&self) -> [&KindStats; 8] {
        [
            &self.valid,
            &self.revoked,
            &self.expired,
            &self.forged,
            &self.garbage,
            &self.login,
            &self.logout,
            &self.refresh,
        ]
    }

    pub(crate) fn merge(&mut self, mut other: Self) {
        self.reconnects += other.reconnects;
        for kind in Kind::ALL {
            let theirs = std::mem::take(other.kind(kind));
            self.kind(kind).merge(theirs);
        }
    }

    pub(crate) fn wrong(&self) -> u64 {
        self.kinds().iter().map(|kind| kind.wrong).sum()
    }

    pub(crate) fn unexpected(&self) -> u64 {
        self.kinds().iter().map(|kind| kind.unexpected).sum()
    }

    pub(crate) fn transport_errors(&self) -> u64 {
        self.kinds().iter().map(|kind| kind.transport_errors).sum()
    }

    /// Requests by the connection tasks (logouts and refreshes are counted apart).
    pub(crate) fn load_requests(&mut self) -> u64 {
        Kind::ALL
            .iter()
            .filter(|kind| !matches!(kind, Kind::Logout | Kind::Refresh))
            .map(|kind| self.kind(*kind).requests)
            .sum()
    }

    /// The table: one line per kind.
    pub(crate) fn table(&mut self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| kind | requests | transport errors | wrong decisions | unexpected status | p50 ms | p99 ms | max ms | statuses |"
        );
        let _ = writeln!(
            out,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        );
        for kind in Kind::ALL {
            let stats = self.kind(kind);
            stats.latencies.sort_unstable();
            let statuses = stats
                .statuses
                .iter()
                .map(|(status, count)| format!("{status}: {count}"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                kind.name(),
                stats.requests,
                stats.transport_errors,
                stats.wrong,
                stats.unexpected,
                millis(percentile(&stats.latencies, 0.50)),
                millis(percentile(&stats.latencies, 0.99)),
                millis(stats.latencies.last().copied()),
                statuses,
            );
        }
        out
    }

    /// Lines about the revoked users' answers, and the examples of anything that went wrong.
    pub(crate) fn details(&mut self) -> String {
        let mut out = String::new();
        let revoked = self.kind(Kind::Revoked);
        let _ = writeln!(
            out,
            "revoked users' tokens: {} had to be refused, {} had to be accepted, {} could be either \
             (in flight during a logout); {} refusals gave a reason other than \"revoked\"",
            revoked.must_refuse, revoked.must_accept, revoked.either, revoked.other_reason
        );
        for kind in Kind::ALL {
            let stats = self.kind(kind);
            for example in &stats.examples {
                let _ = writeln!(out, "  {}: {example}", kind.name());
            }
        }
        out
    }
}

/// The value at `fraction` of a sorted list.
fn percentile(sorted: &[u32], fraction: f64) -> Option<u32> {
    let last = sorted.len().checked_sub(1)?;
    let index = (last as f64 * fraction).round() as usize;
    sorted.get(index.min(last)).copied()
}

fn millis(micros: Option<u32>) -> String {
    micros.map_or_else(
        || "-".to_owned(),
        |micros| format!("{:.2}", f64::from(micros) / 1000.0),
    )
}

//! The device list: one row per login in `demo_sessions`, the application's own record of its
//! sessions (when, from what, last used). Revoking one is the library's part: this table only says
//! which sessions a user has, and the cutoffs say which of them still work.

use jwt_cutoff::{CutoffCache, SourceError, Timestamp, TokenInstant, TokenPair, Verdict};

use crate::db::{Database, on_pool};

/// The longest `User-Agent` kept; a longer one is cut (at a character boundary).
const MAX_USER_AGENT_BYTES: usize = 512;

/// A session as the device list shows it.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) created_at: Timestamp,
    pub(crate) last_used_at: Timestamp,
    pub(crate) user_agent: String,
}

/// Records the session a login started.
pub(crate) async fn started(
    database: &Database,
    user_id: &str,
    pair: &TokenPair,
    user_agent: &str,
) -> Result<(), sqlx::Error> {
    let now = Timestamp::now().as_unix_micros();
    let user_agent = cut(user_agent);
    on_pool!(database, |pool| {
        // Sessions whose every token has expired go with each login.
        sqlx::query("DELETE FROM demo_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(pool)
            .await?;
        sqlx::query(
            "INSERT INTO demo_sessions \
             (id, user_id, created_at, last_used_at, expires_at, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&pair.session_id)
        .bind(user_id)
        .bind(pair.refresh.authenticated_at.as_unix_micros())
        .bind(now)
        .bind(pair.refresh.expires_at.as_unix_micros())
        .bind(user_agent)
        .execute(pool)
        .await
        .map(drop)
    })
}

/// Records a refresh: the session was used now, and lives as long as its new refresh token.
pub(crate) async fn refreshed(database: &Database, pair: &TokenPair) -> Result<(), sqlx::Error> {
    on_pool!(database, |pool| {
        sqlx::query("UPDATE demo_sessions SET last_used_at = $1, expires_at = $2 WHERE id = $3")
            .bind(Timestamp::now().as_unix_micros())
            .bind(pair.refresh.expires_at.as_unix_micros())
            .bind(&pair.session_id)
            .execute(pool)
            .await
            .map(drop)
    })
}

/// The user's sessions that still work: not expired, and not refused by any cutoff (the session
/// revoked, the user logged out from all devices after its login, everyone logged out).
pub(crate) async fn live(
    database: &Database,
    cutoffs: &CutoffCache,
    user_id: &str,
) -> Result<Vec<Session>, LiveError> {
    let now = Timestamp::now().as_unix_micros();
    let rows: Vec<(String, i64, i64, String)> = on_pool!(database, |pool| {
        sqlx::query_as(
            "SELECT id, created_at, last_used_at, user_agent FROM demo_sessions \
             WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at",
        )
        .bind(user_id)
        .bind(now)
        .fetch_all(pool)
        .await
    })
    .map_err(LiveError::Database)?;
    let in_force = cutoffs
        .lookup_in_store(user_id)
        .await
        .map_err(LiveError::Cutoffs)?;
    Ok(rows
        .into_iter()
        .map(|(id, created_at, last_used_at, user_agent)| Session {
            id,
            created_at: Timestamp::from_unix_micros(created_at),
            last_used_at: Timestamp::from_unix_micros(last_used_at),
            user_agent,
        })
        .filter(|session| {
            let login = TokenInstant::precise(session.created_at);
            in_force.judge(Some(&session.id), login) == Verdict::Admitted
        })
        .collect())
}

/// Why the live sessions could not be listed.
#[derive(Debug)]
pub(crate) enum LiveError {
    Database(sqlx::Error),
    Cutoffs(SourceError),
}

fn cut(user_agent: &str) -> &str {
    let mut end = user_agent.len().min(MAX_USER_AGENT_BYTES);
    while !user_agent.is_char_boundary(end) {
        end -= 1;
    }
    user_agent.get(..end).unwrap_or_default()
}

//! SQLite: the conformance suite (plain and authoritative), racing writers from two pools on one
//! file, restarts, NUL in a subject, nothing written over the subject bound, the table name, known
//! subjects, and a validator round trip.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside the #[test] functions unwrap, as the tests do"
)]
#![cfg(feature = "sqlite")]

mod common;

use std::path::Path;
use std::time::Duration;

use jwt_cutoff::{Cutoff, CutoffCache, CutoffSource, Scope, Timestamp};
use jwt_cutoff_sqlx::SqliteStore;
use jwt_cutoff_store::conformance::{self, Suite};
use jwt_cutoff_test_support::{check_logout_round_trip, check_session_retention};
use tempfile::TempDir;

fn url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn at(micros: i64) -> Cutoff {
    Cutoff::ValidFrom(Timestamp::from_unix_micros(micros))
}

/// A fresh file in `dir` each time, opened as `connect` opens it (WAL, several connections).
fn fresh_files(dir: &TempDir) -> impl AsyncFnMut() -> SqliteStore {
    let mut files = 0;
    async move || {
        files += 1;
        let path = dir.path().join(format!("cutoffs-{files}.db"));
        SqliteStore::connect(&url(&path)).await.unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_store_keeps_the_promises() {
    let dir = tempfile::tempdir().unwrap();
    Suite::new(fresh_files(&dir)).run().await;
}

/// With known subjects (none: the users table is empty) every lookup is refused, and what each
/// raise stores is still checked.
#[tokio::test]
async fn an_authoritative_store_keeps_the_promises() {
    let mut suite = Suite::new(async || {
        let store = SqliteStore::builder()
            .known_subjects("users", "id")
            .connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query("CREATE TABLE users (id TEXT PRIMARY KEY)")
            .execute(store.pool())
            .await
            .unwrap();
        store
    })
    .refuses_unknown_subjects();
    suite.run().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_on_one_file_write_concurrently_without_corrupting_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = url(&dir.path().join("cutoffs.db"));
    // Two stores, two pools of several connections each, like two processes sharing the file.
    let first = SqliteStore::connect(&path).await.unwrap();
    let second = SqliteStore::connect(&path).await.unwrap();
    Suite::new(fresh_files(&dir))
        .racing_writers_on(vec![first.clone(), second.clone()])
        .await;

    // Many subjects at once from both pools, later than the everyone cutoff raised above.
    const LATER: i64 = 1_800_000_000_000_000;
    let mut handles = Vec::new();
    for task in 0..8_i64 {
        let store = if task % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        handles.push(tokio::spawn(async move {
            for n in 0..50_i64 {
                let subject = format!("user-{}", n % 25);
                store
                    .raise(Scope::Subject(&subject), at(LATER + 1_000 * n + task))
                    .await
                    .unwrap();
            }
        }));
    }
    for handle in handles {
        handle.await.unwrap();
    }
    for n in 25..50_i64 {
        // user-k was last raised with n = k + 25 by every task; the greatest task number wins.
        let subject = format!("user-{}", n % 25);
        assert_eq!(
            second.lookup(&subject).await.unwrap().cutoff(),
            at(LATER + 1_000 * n + 7)
        );
    }

    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(first.pool())
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(first.pool())
        .await
        .unwrap();
    assert_eq!(journal, "wal");
}

#[tokio::test]
async fn the_cutoff_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = url(&dir.path().join("cutoffs.db"));
    let (alice, everyone) = {
        let cutoffs = CutoffCache::new(SqliteStore::connect(&path).await.unwrap());
        let alice = cutoffs.logout_all("alice").await.unwrap();
        cutoffs.refuse("mallory").await.unwrap();
        let everyone = cutoffs.logout_everyone().await.unwrap();
        (alice, everyone)
    };
    // The old pool is gone with its CutoffCache; a new process opens the same file.
    let store = SqliteStore::connect(&path).await.unwrap();
    assert_eq!(
        store
            .raise(Scope::Subject("alice"), Cutoff::NoCutoff)
            .await
            .unwrap(),
        alice
    );
    assert_eq!(
        store.lookup("mallory").await.unwrap().cutoff(),
        Cutoff::Refused
    );
    assert_eq!(store.lookup("anyone").await.unwrap().cutoff(), everyone);
    store.pool().close().await;

    // And once more after an explicit close, with a fresh CutoffCache.
    let cutoffs = CutoffCache::new(SqliteStore::connect(&path).await.unwrap());
    assert_eq!(
        cutoffs.lookup("mallory").await.unwrap().cutoff(),
        Cutoff::Refused
    );
}

/// SQLite text holds NUL; the conformance suite leaves it out, as PostgreSQL's cannot.
#[tokio::test]
async fn a_subject_with_nul_is_its_own() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    for (n, subject) in (1..).zip(["nul\0inside", "nul", "\0"]) {
        assert_eq!(
            store.raise(Scope::Subject(subject), at(n)).await.unwrap(),
            at(n)
        );
    }
    for (n, subject) in (1..).zip(["nul\0inside", "nul", "\0"]) {
        assert_eq!(
            store.lookup(subject).await.unwrap().cutoff(),
            at(n),
            "{subject:?}"
        );
    }
    assert_eq!(store.lookup("").await.unwrap().cutoff(), Cutoff::NoCutoff);
}

/// The suite sees that a subject over the bound is refused; here, that no row was written for it.
#[tokio::test]
async fn nothing_is_written_for_a_subject_over_the_bound() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    conformance::raise_too_long_subjects(&store).await;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM jwt_cutoffs")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn table_names_are_checked_and_configurable() {
    for bad in ["", "1x", "a-b", "a;b", "x\"y", "main.jwt_cutoffs"] {
        let made = SqliteStore::builder()
            .table(bad)
            .connect("sqlite::memory:")
            .await;
        common::assert_bad_name(made, "table", bad);
    }

    let dir = tempfile::tempdir().unwrap();
    let path = url(&dir.path().join("app.db"));
    // The service's own database, with a users table already in it.
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .connect_with(
            path.parse::<sqlx::sqlite::SqliteConnectOptions>()
                .unwrap()
                .create_if_missing(true),
        )
        .await
        .unwrap();
    sqlx::query("CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    let store = SqliteStore::builder()
        .table("Auth_Cutoffs")
        .pool(pool.clone())
        .await
        .unwrap();
    assert_eq!(store.table(), "Auth_Cutoffs");
    assert!(
        store
            .schema()
            .contains("CREATE TABLE IF NOT EXISTS \"Auth_Cutoffs\"")
    );
    store.raise(Scope::Subject("alice"), at(5)).await.unwrap();
    store.migrate().await.unwrap(); // idempotent
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        tables,
        [
            "Auth_Cutoffs",
            "Auth_Cutoffs_everyone",
            "Auth_Cutoffs_sessions",
            "users"
        ]
    );
    let (subject, micros, refused): (String, Option<i64>, bool) =
        sqlx::query_as("SELECT subject, valid_from_micros, refused FROM \"Auth_Cutoffs\"")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (subject.as_str(), micros, refused),
        ("alice", Some(5), false)
    );

    // Without create_tables, a missing table is an error at lookup: the request fails closed.
    let bare = SqliteStore::builder()
        .table("missing")
        .create_tables(false)
        .pool(pool)
        .await
        .unwrap();
    assert!(bare.lookup("alice").await.is_err());
}

#[tokio::test]
async fn known_subjects_refuse_a_subject_without_a_row_in_the_users_table() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::builder()
        .known_subjects("App_Users", "id")
        .connect(&url(&dir.path().join("app.db")))
        .await
        .unwrap();
    let pool = store.pool().clone();
    common::check_known_subjects(&store, "\"App_Users\"", async |statement: String| {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&pool)
            .await
            .unwrap();
    })
    .await;

    // Without the setting, nobody is refused for being unknown.
    let plain = SqliteStore::from_pool(store.pool().clone()).await.unwrap();
    assert_eq!(plain.lookup("ghost").await.unwrap().cutoff(), at(10));

    let also = [
        ("", "id", "known subjects table"),
        ("main.users", "id", "known subjects table"),
        ("users", "", "known subjects column"),
    ];
    common::check_bad_known_subjects(&also, async |table, column| {
        SqliteStore::builder()
            .known_subjects(table, column)
            .connect("sqlite::memory:")
            .await
    })
    .await;
}

#[tokio::test]
async fn a_validator_accepts_then_refuses_after_logout_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = url(&dir.path().join("cutoffs.db"));
    // The second instance is another pool on the same file, as another process would open it.
    check_logout_round_trip(
        &CutoffCache::new(SqliteStore::connect(&path).await.unwrap()),
        CutoffCache::new(SqliteStore::connect(&path).await.unwrap()),
    )
    .await;
}

#[tokio::test]
async fn sessions_past_their_retention_are_forgotten_and_deleted() {
    let retention = Duration::from_secs(1);
    let store = SqliteStore::builder()
        .session_retention(retention)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    check_session_retention(&store, retention, async || {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM \"jwt_cutoffs_sessions\"")
            .fetch_one(store.pool())
            .await
            .unwrap();
        usize::try_from(count).unwrap()
    })
    .await;
}

#[tokio::test]
async fn a_revoked_session_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = url(&dir.path().join("cutoffs.db"));
    {
        let cutoffs = CutoffCache::new(SqliteStore::connect(&path).await.unwrap());
        cutoffs.revoke_session("alice", "laptop").await.unwrap();
    }
    let store = SqliteStore::connect(&path).await.unwrap();
    let found = store.lookup("alice").await.unwrap();
    assert_eq!(found.for_token(Some("laptop")), Cutoff::Refused);
    assert_eq!(found.for_token(Some("phone")), Cutoff::NoCutoff);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_tokens_rotate_once_even_from_two_pools() {
    let dir = tempfile::tempdir().unwrap();
    let path = url(&dir.path().join("cutoffs.db"));
    let (one, two) = (
        SqliteStore::connect(&path).await.unwrap(),
        SqliteStore::connect(&path).await.unwrap(),
    );
    conformance::check_rotation(vec![one, two]).await;
}

//! SQLite: monotonic writes under racing writers (one pool and two pools on one file), the global
//! cutoff, restarts, the table name, and a validator round trip.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
#![cfg(feature = "sqlite")]

mod common;

use std::path::Path;

use jwt_cutoff::{Cutoff, CutoffCache, CutoffSource, MAX_SUBJECT_BYTES, Reason, Scope, Timestamp};
use jwt_cutoff_sqlx::{Error, SqliteStore};

fn url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

fn at(micros: i64) -> Cutoff {
    Cutoff::ValidFrom(Timestamp::from_unix_micros(micros))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_on_one_pool_never_move_a_cutoff_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&url(&dir.path().join("cutoffs.db")))
        .await
        .unwrap();
    common::race_raises(&[store], "alice", 16, 60).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_on_one_file_write_concurrently_without_corrupting_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = url(&dir.path().join("cutoffs.db"));
    // Two stores, two pools of several connections each, like two processes sharing the file.
    let first = SqliteStore::connect(&path).await.unwrap();
    let second = SqliteStore::connect(&path).await.unwrap();
    common::race_raises(&[first.clone(), second.clone()], "bob", 16, 60).await;

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
            second.lookup(&subject).await.unwrap(),
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
    assert_eq!(store.lookup("mallory").await.unwrap(), Cutoff::Refused);
    assert_eq!(store.lookup("anyone").await.unwrap(), everyone);
    store.pool().close().await;

    // And once more after an explicit close, with a fresh CutoffCache.
    let cutoffs = CutoffCache::new(SqliteStore::connect(&path).await.unwrap());
    assert_eq!(cutoffs.lookup("mallory").await.unwrap(), Cutoff::Refused);
}

#[tokio::test]
async fn lookups_combine_the_subject_with_everyone_and_refused_wins() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    assert_eq!(store.lookup("nobody").await.unwrap(), Cutoff::NoCutoff);

    assert_eq!(
        store.raise(Scope::Everyone, at(100)).await.unwrap(),
        at(100)
    );
    assert_eq!(store.lookup("nobody").await.unwrap(), at(100));

    assert_eq!(
        store.raise(Scope::Subject("alice"), at(50)).await.unwrap(),
        at(50)
    );
    assert_eq!(
        store.lookup("alice").await.unwrap(),
        at(100),
        "everyone is later"
    );
    assert_eq!(
        store.raise(Scope::Subject("alice"), at(200)).await.unwrap(),
        at(200)
    );
    assert_eq!(
        store.lookup("alice").await.unwrap(),
        at(200),
        "alice is later"
    );
    assert_eq!(
        store.raise(Scope::Subject("alice"), at(150)).await.unwrap(),
        at(200),
        "never back"
    );

    // A lower everyone cutoff does not lower it either, and raise answers the scope's own value.
    assert_eq!(store.raise(Scope::Everyone, at(10)).await.unwrap(), at(100));

    assert_eq!(
        store
            .raise(Scope::Subject("alice"), Cutoff::Refused)
            .await
            .unwrap(),
        Cutoff::Refused
    );
    assert_eq!(
        store
            .raise(Scope::Subject("alice"), at(i64::MAX))
            .await
            .unwrap(),
        Cutoff::Refused,
        "refused stays refused"
    );
    assert_eq!(store.lookup("alice").await.unwrap(), Cutoff::Refused);

    // Refusing everyone refuses every subject, known or not.
    assert_eq!(
        store.raise(Scope::Everyone, Cutoff::Refused).await.unwrap(),
        Cutoff::Refused
    );
    assert_eq!(store.lookup("nobody").await.unwrap(), Cutoff::Refused);
    assert_eq!(
        store.raise(Scope::Everyone, at(300)).await.unwrap(),
        Cutoff::Refused
    );
}

#[tokio::test]
async fn any_string_is_a_subject_and_none_collides_with_everyone() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let odd = [
        "",
        "*",
        "=",
        "everyone",
        "Robert'); DROP TABLE jwt_cutoffs;--",
        "with space",
        "ünïcødé 🦀",
        "nul\0inside",
        &"x".repeat(MAX_SUBJECT_BYTES),
    ];
    for (n, subject) in odd.iter().enumerate() {
        let n = i64::try_from(n).unwrap() + 1;
        assert_eq!(
            store.raise(Scope::Subject(subject), at(n)).await.unwrap(),
            at(n)
        );
    }
    for (n, subject) in odd.iter().enumerate() {
        let n = i64::try_from(n).unwrap() + 1;
        assert_eq!(store.lookup(subject).await.unwrap(), at(n), "{subject:?}");
    }
    assert_eq!(
        store
            .raise(Scope::Everyone, Cutoff::NoCutoff)
            .await
            .unwrap(),
        Cutoff::NoCutoff
    );
    assert_eq!(store.lookup("other").await.unwrap(), Cutoff::NoCutoff);
}

/// The store refuses what tokens and `CutoffCache` refuse, also when used directly as a source.
#[tokio::test]
async fn subjects_longer_than_max_subject_bytes_are_refused_before_the_database() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let longest = common::longest_subjects();
    for (n, subject) in (1..).zip(&longest) {
        assert_eq!(
            store.raise(Scope::Subject(subject), at(n)).await.unwrap(),
            at(n)
        );
        assert_eq!(store.lookup(subject).await.unwrap(), at(n), "{subject:?}");
    }
    for subject in common::too_long_subjects() {
        let error = store
            .raise(Scope::Subject(&subject), Cutoff::Refused)
            .await
            .unwrap_err();
        assert!(
            common::is_too_long_error(&error),
            "{} bytes: {error}",
            subject.len()
        );
        let error = store.lookup(&subject).await.unwrap_err();
        assert!(common::is_too_long_error(&error), "{error}");
    }
    // Nothing was written for them.
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM jwt_cutoffs")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, i64::try_from(longest.len()).unwrap());
}

#[tokio::test]
async fn table_names_are_checked_and_configurable() {
    for bad in ["", "1x", "a-b", "a;b", "x\"y", "main.jwt_cutoffs"] {
        let error = SqliteStore::builder()
            .table(bad)
            .connect("sqlite::memory:")
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::InvalidName { what: "table", .. }),
            "{bad}: {error}"
        );
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
    assert_eq!(tables, ["Auth_Cutoffs", "Auth_Cutoffs_everyone", "users"]);
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
    assert_eq!(plain.lookup("ghost").await.unwrap(), at(10));

    for (table, column, what) in [
        ("a-b", "id", "known subjects table"),
        ("", "id", "known subjects table"),
        ("main.users", "id", "known subjects table"),
        ("users", "id; --", "known subjects column"),
        ("users", "\"id\"", "known subjects column"),
        ("users", "", "known subjects column"),
    ] {
        let error = SqliteStore::builder()
            .known_subjects(table, column)
            .connect("sqlite::memory:")
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::InvalidName { what: found, .. } if found == what),
            "{table}.{column}: {error}"
        );
    }
}

#[tokio::test]
async fn a_validator_accepts_then_refuses_after_logout_all() {
    let dir = tempfile::tempdir().unwrap();
    let cutoffs = CutoffCache::new(
        SqliteStore::connect(&url(&dir.path().join("cutoffs.db")))
            .await
            .unwrap(),
    );
    let (issuer, validator) = (common::issuer(), common::validator(&cutoffs));

    let before = issuer.issue_access("alice", &()).unwrap().token;
    assert_eq!(
        validator.validate(&before).await.unwrap().subject(),
        "alice"
    );
    cutoffs.logout_all("alice").await.unwrap();
    let rejection = validator.validate(&before).await.unwrap_err();
    assert_eq!(rejection.reason(), Reason::Revoked);
    let after = issuer.issue_access("alice", &()).unwrap().token;
    assert!(validator.validate(&after).await.is_ok());

    cutoffs.refuse("alice").await.unwrap();
    let rejection = validator.validate(&after).await.unwrap_err();
    assert_eq!(rejection.reason(), Reason::SubjectRefused);
}

//! PostgreSQL against the real server: the conformance suite with push (plain and authoritative),
//! racing writers on several pools, NUL in a subject, nothing written over the subject bound, NOTIFY
//! only for committed writes, names, known subjects, push between two instances (with latency
//! figures), a lost LISTEN connection, and a validator round trip. Each test works in its own
//! schema.
#![allow(
    clippy::unwrap_used,
    reason = "helpers outside the #[test] functions unwrap, as the tests do"
)]
#![cfg(feature = "postgres")]

mod common;

use std::time::Duration;

use jwt_cutoff::{
    Cutoff, CutoffCache, CutoffChange, CutoffSource, PushChannel, PushSubscription, Reason, Scope,
    Timestamp,
};
use jwt_cutoff_sqlx::PostgresStore;
use jwt_cutoff_store::conformance::{self, Suite};
use jwt_cutoff_test_support::{
    PUSH_WAIT, check_logout_round_trip, check_session_retention, eventually, following, hs_issuer,
    hs_validator, push_latency, reason_of, revocation_reaches, sees,
};
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgPoolOptions;

const MINUTES: Duration = Duration::from_secs(600);

fn at(micros: i64) -> Cutoff {
    Cutoff::ValidFrom(Timestamp::from_unix_micros(micros))
}

async fn store(schema: &common::TestSchema) -> PostgresStore {
    PostgresStore::builder()
        .table(schema.table())
        .connect(&schema.url)
        .await
        .unwrap()
}

/// A fresh schema for `test` (see [`common::postgres`]) and a store in it.
async fn schema_with_store(test: &str) -> Option<(common::TestSchema, PostgresStore)> {
    let schema = common::postgres(test).await?;
    let store = store(&schema).await;
    Some((schema, store))
}

/// A cache whose entries live for minutes, connected or not: only push can explain a change.
fn instance(store: &PostgresStore) -> CutoffCache {
    CutoffCache::builder(store.clone())
        .time_to_live(MINUTES)
        .time_to_live_with_push(MINUTES)
        .build()
}

/// Fresh tables in `schema` each time, all on one pool; the builder's settings come from
/// `builder`.
async fn fresh_tables(
    schema: &common::TestSchema,
    builder: impl Fn() -> jwt_cutoff_sqlx::PostgresStoreBuilder,
) -> impl AsyncFnMut() -> PostgresStore {
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .connect(&schema.url)
        .await
        .unwrap();
    let mut tables = 0;
    async move || {
        tables += 1;
        builder()
            .table(format!("{}.t{tables}", schema.schema))
            .pool(pool.clone())
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_store_keeps_the_promises() {
    let Some(schema) = common::postgres("pg_conformance").await else {
        return;
    };
    Suite::new(fresh_tables(&schema, PostgresStore::builder).await)
        .push(PostgresStore::push_channel)
        .run()
        .await;
    schema.drop_schema().await;
}

/// With known subjects (none: the users table is empty) every lookup is refused, and what each
/// raise stores, and pushes, is still checked.
#[tokio::test]
async fn an_authoritative_store_keeps_the_promises() {
    let Some(schema) = common::postgres("pg_authoritative").await else {
        return;
    };
    let users = format!("{}.users", schema.schema);
    sqlx::query(AssertSqlSafe(format!(
        "CREATE TABLE {users} (id TEXT PRIMARY KEY)"
    )))
    .execute(&schema.admin)
    .await
    .unwrap();
    let builder = || PostgresStore::builder().known_subjects(&users, "id");
    Suite::new(fresh_tables(&schema, builder).await)
        .push(PostgresStore::push_channel)
        .refuses_unknown_subjects()
        .run()
        .await;
    schema.drop_schema().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_writers_on_many_pools_never_move_a_cutoff_back() {
    let Some(schema) = common::postgres("pg_race").await else {
        return;
    };
    // Three stores (three pools of up to ten connections) on the same tables.
    let stores = vec![
        store(&schema).await,
        store(&schema).await,
        store(&schema).await,
    ];
    Suite::new(fresh_tables(&schema, PostgresStore::builder).await)
        .racing_writers_on(stores.clone())
        .await;
    schema.drop_with(&stores).await;
}

/// PostgreSQL text cannot hold NUL: such a subject can be neither looked up nor logged out, so its
/// requests fail closed rather than pass.
#[tokio::test]
async fn a_subject_with_nul_fails_closed() {
    let Some((schema, store)) = schema_with_store("pg_nul").await else {
        return;
    };
    assert!(store.lookup("nul\0inside").await.is_err());
    assert!(
        store
            .raise(Scope::Subject("nul\0inside"), at(1))
            .await
            .is_err()
    );
    schema.drop_with([&store]).await;
}

/// The suite sees that a subject over the bound is refused and not announced; here, that no row
/// was written for it (a subject of 9,000 bytes used to fit the table, compressed, but not the
/// 8,000-byte `NOTIFY` payload, so logging it out always failed).
#[tokio::test]
async fn nothing_is_written_for_a_subject_over_the_bound() {
    let Some((schema, store)) = schema_with_store("pg_bound").await else {
        return;
    };
    conformance::raise_too_long_subjects(&store).await;
    let rows: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {}",
        schema.table()
    )))
    .fetch_one(&schema.admin)
    .await
    .unwrap();
    assert_eq!(rows, 0);
    schema.drop_with([&store]).await;
}

#[tokio::test]
async fn known_subjects_refuse_a_subject_without_a_row_in_the_users_table() {
    let Some(schema) = common::postgres("pg_known").await else {
        return;
    };
    let users = format!("{}.app_users", schema.schema);
    let store = PostgresStore::builder()
        .table(schema.table())
        .known_subjects(&users, "id")
        .connect(&schema.url)
        .await
        .unwrap();
    let admin = schema.admin.clone();
    common::check_known_subjects(&store, &users, async |statement: String| {
        sqlx::raw_sql(AssertSqlSafe(statement))
            .execute(&admin)
            .await
            .unwrap();
    })
    .await;

    // Without the setting, nobody is refused for being unknown.
    let plain = PostgresStore::builder()
        .table(schema.table())
        .pool(store.pool().clone())
        .await
        .unwrap();
    assert_eq!(plain.lookup("ghost").await.unwrap().cutoff(), at(10));

    let also = [
        ("a.b.c", "id", "known subjects table"),
        ("users", "a.id", "known subjects column"),
    ];
    common::check_bad_known_subjects(&also, async |table, column| {
        PostgresStore::builder()
            .known_subjects(table, column)
            .connect(&schema.url)
            .await
    })
    .await;

    schema.drop_with([&store]).await;
}

#[tokio::test]
async fn names_are_checked_and_the_schema_is_created_once() {
    let Some(schema) = common::postgres("pg_names").await else {
        return;
    };
    for bad in ["", "1x", "a-b", "a;b", "x\"y", "a.b.c", ".t", "s."] {
        let made = PostgresStore::builder()
            .table(bad)
            .connect(&schema.url)
            .await;
        common::assert_bad_name(made, "table", bad);
    }
    for bad in ["", "a b", "a\"b", "a..b", &"c".repeat(64)] {
        let made = PostgresStore::builder()
            .channel(bad)
            .connect(&schema.url)
            .await;
        common::assert_bad_name(made, "channel", bad);
    }

    // Ten instances starting at once all create-if-missing the same tables.
    let table = format!("{}.Mixed_Case", schema.schema);
    let mut handles = Vec::new();
    for _ in 0..10 {
        let (table, url) = (table.clone(), schema.url.clone());
        handles.push(tokio::spawn(async move {
            PostgresStore::builder().table(table).connect(&url).await
        }));
    }
    let mut stores = Vec::new();
    for handle in handles {
        stores.push(handle.await.unwrap().unwrap());
    }
    let store = &stores[0];
    assert_eq!(store.table(), table);
    assert_eq!(
        store.channel(),
        table,
        "the channel defaults to the table name"
    );
    store.raise(Scope::Subject("alice"), at(5)).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 \
         ORDER BY table_name",
    )
    .bind(&schema.schema)
    .fetch_all(&schema.admin)
    .await
    .unwrap();
    assert_eq!(
        tables,
        ["Mixed_Case", "Mixed_Case_everyone", "Mixed_Case_sessions"]
    );
    let row: (String, Option<i64>, bool) = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT subject, valid_from_micros, refused FROM \"{}\".\"Mixed_Case\"",
        schema.schema
    )))
    .fetch_one(&schema.admin)
    .await
    .unwrap();
    assert_eq!(row, ("alice".to_owned(), Some(5), false));

    // The longest table name: every table and the sessions index fit in an identifier.
    let longest = "l".repeat(54);
    let long = PostgresStore::builder()
        .table(format!("{}.{longest}", schema.schema))
        .channel("longest")
        .pool(store.pool().clone())
        .await
        .unwrap();
    let session = Scope::Session {
        subject: "alice",
        session: "laptop",
    };
    assert_eq!(
        long.raise(session, Cutoff::Refused).await.unwrap(),
        Cutoff::Refused
    );
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 AND tablename = $2",
    )
    .bind(&schema.schema)
    .bind(format!("{longest}_sessions"))
    .fetch_all(&schema.admin)
    .await
    .unwrap();
    assert!(
        indexes.contains(&format!("{longest}_sess_ttl")),
        "{indexes:?}"
    );

    // Without create_tables a missing table makes lookups fail (closed), not pass.
    let bare = PostgresStore::builder()
        .table(format!("{}.missing", schema.schema))
        .create_tables(false)
        .pool(store.pool().clone())
        .await
        .unwrap();
    assert!(bare.lookup("alice").await.is_err());
    assert!(bare.schema().contains("CREATE TABLE IF NOT EXISTS"));

    schema.drop_with(&stores).await;
}

/// The suite checks that every change is pushed with the stored cutoff. PostgreSQL also announces
/// a write that changed nothing (with what is stored), and nothing for one that failed.
#[tokio::test]
async fn every_committed_write_is_announced_and_nothing_else() {
    let Some((schema, store)) = schema_with_store("pg_notify").await else {
        return;
    };
    let mut subscription = store.push_channel().subscribe().await.unwrap();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(5), subscription.next_change())
            .await
            .expect("a notification within 5 s")
            .unwrap()
    };

    store.raise(Scope::Subject("alice"), at(200)).await.unwrap();
    assert_eq!(next().await.cutoff(), at(200));
    // An older cutoff stores (and announces) the newer one already there.
    store.raise(Scope::Subject("alice"), at(100)).await.unwrap();
    assert_eq!(next().await.cutoff(), at(200));
    // A failed write (NUL cannot be stored) notifies nothing: the next one seen is the next good one.
    assert!(store.raise(Scope::Subject("bad\0"), at(1)).await.is_err());
    store
        .raise(Scope::Subject("bob"), Cutoff::Refused)
        .await
        .unwrap();
    assert_eq!(
        next().await,
        CutoffChange::new(Scope::Subject("bob"), Cutoff::Refused)
    );

    // Someone else's payload on the channel cannot be applied: the subscription ends so the
    // follower starts over with an empty cache.
    sqlx::query("SELECT pg_notify($1, 'not a change')")
        .bind(store.channel())
        .execute(&schema.admin)
        .await
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(5), subscription.next_change())
        .await
        .unwrap();
    assert!(ended.is_err());

    schema.drop_with([&store]).await;
}

#[tokio::test]
async fn a_killed_listen_connection_ends_the_subscription() {
    let Some((schema, store)) = schema_with_store("pg_killed").await else {
        return;
    };
    let mut subscription = store.push_channel().subscribe().await.unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1",
    )
    .bind(format!("LISTEN \"{}\"", store.channel()))
    .fetch_all(&schema.admin)
    .await
    .unwrap();
    assert_eq!(killed, [true]);
    let ended = tokio::time::timeout(Duration::from_secs(5), subscription.next_change())
        .await
        .expect("the loss is noticed at once");
    assert!(ended.is_err(), "{ended:?}");

    schema.drop_with([&store]).await;
}

#[tokio::test]
async fn pings_keep_a_quiet_subscription_alive() {
    let Some((schema, store)) = schema_with_store("pg_heartbeat").await else {
        return;
    };
    let channel = store.push_channel().heartbeat(Duration::from_millis(200));
    let mut subscription = channel.subscribe().await.unwrap();
    // Nothing is sent for a while: the pings keep the subscription alive.
    let quiet = tokio::time::timeout(Duration::from_secs(1), subscription.next_change()).await;
    assert!(quiet.is_err(), "no change and no error: {quiet:?}");
    store.raise(Scope::Subject("alice"), at(1)).await.unwrap();
    let change = tokio::time::timeout(Duration::from_secs(5), subscription.next_change())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(change.cutoff(), at(1));

    schema.drop_with([&store]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_through_one_instance_reaches_the_other_by_push() {
    let Some(schema) = common::postgres("pg_push").await else {
        return;
    };
    // Two instances: two stores (two pools), two caches, each following the channel.
    let (store_a, store_b) = (store(&schema).await, store(&schema).await);
    let (a, b) = (instance(&store_a), instance(&store_b));
    let _push_a = following(&a, store_a.push_channel()).await;
    let _push_b = following(&b, store_b.push_channel()).await;

    // Through the layer's validator: accepted on B, logged out on A, refused on B.
    let (issuer, validator_b) = (hs_issuer(), hs_validator(b.clone()));
    let token = issuer.issue_access("alice", &()).unwrap().token;
    assert!(validator_b.validate(&token).await.is_ok(), "cached on B");
    let at_alice = a.logout_all("alice").await.unwrap();
    eventually("B refuses alice", PUSH_WAIT, async || {
        reason_of(&validator_b, &token).await == Some(Reason::Revoked)
    })
    .await;
    assert_eq!(b.lookup("alice").await.unwrap().cutoff(), at_alice);

    // A session revoked on A is refused on B, through push; bob's other sessions keep working.
    revocation_reaches(&a, &b, "bob", "laptop").await;

    // Latency over 200 logouts: from A's logout_all returning to B's cache showing it (the figure
    // asked for), and from the call starting (which includes the write and its commit).
    let latency = push_latency(&a, &b, 200, Duration::from_secs(5)).await;
    eprintln!("PostgreSQL push latency over 200 logouts, until B sees it: {latency}");
    let p99 = latency.after_return.p99;
    assert!(p99 < Duration::from_secs(2), "p99 {p99:?}");

    // Everyone, from B to A.
    assert_eq!(a.lookup("carol").await.unwrap().cutoff(), Cutoff::NoCutoff);
    let everyone = b.logout_everyone().await.unwrap();
    sees("A sees the global logout", &a, "carol", everyone).await;

    // Refused, from A to B.
    assert!(
        validator_b
            .validate(&issuer.issue_access("dave", &()).unwrap().token)
            .await
            .is_ok()
    );
    a.refuse("dave").await.unwrap();
    let fresh = issuer.issue_access("dave", &()).unwrap().token;
    eventually("B refuses dave", PUSH_WAIT, async || {
        reason_of(&validator_b, &fresh).await == Some(Reason::SubjectRefused)
    })
    .await;

    drop((a, b));
    schema.drop_with([&store_a, &store_b]).await;
}

#[tokio::test]
async fn a_validator_accepts_then_refuses_after_logout_all() {
    let Some((schema, store)) = schema_with_store("pg_validator").await else {
        return;
    };
    // A second instance, cold, reads it from the database.
    let other = PostgresStore::builder()
        .table(schema.table())
        .pool(store.pool().clone())
        .await
        .unwrap();
    check_logout_round_trip(&CutoffCache::new(store.clone()), CutoffCache::new(other)).await;

    schema.drop_with([&store]).await;
}

#[tokio::test]
async fn sessions_past_their_retention_are_forgotten_and_deleted() {
    let Some(schema) = common::postgres("pg_retention").await else {
        return;
    };
    let retention = Duration::from_secs(1);
    let store = PostgresStore::builder()
        .table(schema.table())
        .session_retention(retention)
        .connect(&schema.url)
        .await
        .unwrap();
    let count = format!(
        "SELECT COUNT(*) FROM \"{}\".\"jwt_cutoffs_sessions\"",
        schema.schema
    );
    check_session_retention(&store, retention, async || {
        let (count,): (i64,) = sqlx::query_as(AssertSqlSafe(count.clone()))
            .fetch_one(store.pool())
            .await
            .unwrap();
        usize::try_from(count).unwrap()
    })
    .await;
    schema.drop_with([&store]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_tokens_rotate_once_even_from_two_instances() {
    let Some(schema) = common::postgres("pg_rotation").await else {
        return;
    };
    let (one, two) = (store(&schema).await, store(&schema).await);
    conformance::check_rotation(vec![one.clone(), two.clone()]).await;
    schema.drop_with([&one, &two]).await;
}

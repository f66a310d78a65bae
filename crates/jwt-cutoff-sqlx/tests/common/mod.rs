//! Helpers shared by the SQL test files: the real PostgreSQL server (or a skip, through the
//! test-support crate), unique schemas, and checks both databases run.
#![allow(
    dead_code,
    unreachable_pub,
    unused_imports,
    reason = "each test file uses its own part of this module"
)]
#![allow(
    clippy::unwrap_used,
    reason = "helpers fail the test that calls them by unwrapping, as the tests do"
)]

use std::fmt::Debug;
use std::time::Duration;

#[cfg(feature = "postgres")]
pub use self::postgres::*;
use jwt_cutoff::CutoffCache;
use jwt_cutoff_sqlx::Error;
use jwt_cutoff_test_support::eventually;

/// Checks that a store was not made because the name given for `what` (`given`, for the failure
/// message) is not a valid one.
#[track_caller]
pub fn assert_bad_name<T: Debug>(made: Result<T, Error>, what: &str, given: &str) {
    let error = made.unwrap_err();
    assert!(
        matches!(error, Error::InvalidName { what: found, .. } if found == what),
        "{given}: {error}"
    );
}

/// `known_subjects(table, column)` settings no database accepts, with the name that is bad.
const BAD_KNOWN_SUBJECTS: [(&str, &str, &str); 3] = [
    ("a-b", "id", "known subjects table"),
    ("users", "id; --", "known subjects column"),
    ("users", "\"id\"", "known subjects column"),
];

/// Checks that `connect`, which makes a store with `known_subjects(table, column)`, refuses the
/// settings no database accepts and `also` (this database's own) as a bad name of the kind each
/// names.
pub async fn check_bad_known_subjects<T: Debug>(
    also: &[(&str, &str, &str)],
    connect: impl AsyncFn(&str, &str) -> Result<T, Error>,
) {
    for (table, column, what) in BAD_KNOWN_SUBJECTS.iter().chain(also) {
        let given = format!("{table}.{column}");
        assert_bad_name(connect(table, column).await, what, &given);
    }
}

/// What a store made with `known_subjects(users, "id")` must answer, whatever the database:
/// `users` names a table that does not exist yet, and `sql` runs a statement on the store's
/// database (the statements use no placeholders, so both dialects read them).
pub async fn check_known_subjects<S>(store: &S, users: &str, mut sql: impl AsyncFnMut(String))
where
    S: jwt_cutoff::CutoffSource + Clone,
{
    use jwt_cutoff::{Cutoff, Scope, Timestamp};

    let at = |micros| Cutoff::ValidFrom(Timestamp::from_unix_micros(micros));
    // Until the table exists every lookup fails: closed, never open.
    assert!(store.lookup("u1").await.is_err());
    sql(format!(
        "CREATE TABLE {users} (id VARCHAR(64) NOT NULL PRIMARY KEY, name TEXT NOT NULL)"
    ))
    .await;
    let odd = "it's \"odd\"; --";
    sql(format!(
        "INSERT INTO {users} (id, name) VALUES ('u1', 'alice'), ('u2', 'bob'), \
         ('it''s \"odd\"; --', 'carol')"
    ))
    .await;

    // A known subject has its own cutoff; an unknown one is refused, whatever is stored for it.
    for known in ["u1", "u2", odd] {
        assert_eq!(
            store.lookup(known).await.unwrap().cutoff(),
            Cutoff::NoCutoff,
            "{known:?}"
        );
    }
    for unknown in ["ghost", "", "U1", "u1 ", "u1' OR '1'='1", &"u".repeat(256)] {
        assert_eq!(
            store.lookup(unknown).await.unwrap().cutoff(),
            Cutoff::Refused,
            "{unknown:?}"
        );
    }
    assert_eq!(
        store.raise(Scope::Subject("u1"), at(5)).await.unwrap(),
        at(5)
    );
    assert_eq!(store.lookup("u1").await.unwrap().cutoff(), at(5));
    assert_eq!(
        store.raise(Scope::Subject("ghost"), at(5)).await.unwrap(),
        at(5)
    );
    assert_eq!(
        store.lookup("ghost").await.unwrap().cutoff(),
        Cutoff::Refused,
        "a cutoff is no user"
    );
    assert_eq!(store.raise(Scope::Everyone, at(10)).await.unwrap(), at(10));
    assert_eq!(store.lookup("u1").await.unwrap().cutoff(), at(10));
    assert_eq!(store.lookup("u2").await.unwrap().cutoff(), at(10));
    assert_eq!(
        store.lookup("ghost").await.unwrap().cutoff(),
        Cutoff::Refused
    );
    store
        .raise(Scope::Subject("u2"), Cutoff::Refused)
        .await
        .unwrap();
    assert_eq!(store.lookup("u2").await.unwrap().cutoff(), Cutoff::Refused);

    // A deleted row refuses at the next lookup; a new one is known at its first.
    sql(format!("DELETE FROM {users} WHERE id = 'u1'")).await;
    assert_eq!(store.lookup("u1").await.unwrap().cutoff(), Cutoff::Refused);
    sql(format!(
        "INSERT INTO {users} (id, name) VALUES ('u3', 'dave')"
    ))
    .await;
    assert_eq!(store.lookup("u3").await.unwrap().cutoff(), at(10));

    // Through a cache the answer is cached like any other: a deletion is seen once it expires.
    let time_to_live = Duration::from_millis(300);
    let cutoffs = CutoffCache::builder(store.clone())
        .time_to_live(time_to_live)
        .build();
    assert_eq!(cutoffs.lookup("u3").await.unwrap().cutoff(), at(10));
    sql(format!("DELETE FROM {users} WHERE id = 'u3'")).await;
    assert_eq!(
        cutoffs.lookup("u3").await.unwrap().cutoff(),
        at(10),
        "cached"
    );
    eventually("the deletion is seen", time_to_live * 10, async || {
        cutoffs.lookup("u3").await.unwrap().cutoff() == Cutoff::Refused
    })
    .await;
}

#[cfg(feature = "postgres")]
mod postgres {
    use std::time::Duration;

    use jwt_cutoff_sqlx::PostgresStore;
    use jwt_cutoff_test_support::{skip, unique_id};
    use sqlx::postgres::PgPoolOptions;
    use sqlx::{AssertSqlSafe, PgPool};

    pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

    /// The test server's URL: `JWT_CUTOFF_TEST_POSTGRES_URL`, or the local default.
    pub fn postgres_url() -> String {
        std::env::var("JWT_CUTOFF_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned())
    }

    /// A fresh schema on the real server, for one test; `None` when the server is unreachable,
    /// after [`skip`] said so (or failed the test, as `JWT_CUTOFF_REQUIRE_SERVERS=1` asks).
    pub async fn postgres(test: &str) -> Option<TestSchema> {
        let url = postgres_url();
        let connected = tokio::time::timeout(
            Duration::from_secs(5),
            PgPoolOptions::new()
                .max_connections(2)
                .acquire_timeout(Duration::from_secs(3))
                .connect(&url),
        )
        .await;
        let admin = match connected {
            Ok(Ok(pool)) => pool,
            Ok(Err(error)) => return unreachable_server(test, &url, &error.to_string()),
            Err(_) => return unreachable_server(test, &url, "no answer within 5 s"),
        };
        let schema = unique_name(test);
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
            .execute(&admin)
            .await
            .unwrap();
        Some(TestSchema { url, admin, schema })
    }

    fn unreachable_server<T>(test: &str, url: &str, why: &str) -> Option<T> {
        skip(&format!(
            "{test}: PostgreSQL not reachable at {url} (set JWT_CUTOFF_TEST_POSTGRES_URL): {why}"
        ));
        None
    }

    /// A lower-case name no other test (or run) uses: `t_<test>_<pid>_<time>_<n>`.
    pub fn unique_name(test: &str) -> String {
        let short: String = test
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(20)
            .collect::<String>()
            .to_ascii_lowercase();
        format!("t_{short}_{}", unique_id())
    }

    /// A schema made for one test; [`drop_schema`](TestSchema::drop_schema) removes it.
    pub struct TestSchema {
        pub url: String,
        pub admin: PgPool,
        pub schema: String,
    }

    impl TestSchema {
        /// The store's table in this schema.
        pub fn table(&self) -> String {
            format!("{}.jwt_cutoffs", self.schema)
        }

        /// Closes the pools of `stores` (made in this schema), then drops the schema.
        pub async fn drop_with<'a>(self, stores: impl IntoIterator<Item = &'a PostgresStore>) {
            for store in stores {
                store.pool().close().await;
            }
            self.drop_schema().await;
        }

        /// Drops the schema, and everything in it.
        pub async fn drop_schema(self) {
            sqlx::query(AssertSqlSafe(format!(
                "DROP SCHEMA \"{}\" CASCADE",
                self.schema
            )))
            .execute(&self.admin)
            .await
            .unwrap();
            self.admin.close().await;
        }
    }
}

//! Users: the sign-up rules, argon2 password hashes, and the `demo_users` table.

use std::sync::{Arc, LazyLock, Mutex, mpsc};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use tokio::sync::oneshot;

use crate::db::{Database, on_pool, random_hex};

/// Passwords longer than this are refused rather than hashed (hashing cost is per byte).
const MAX_PASSWORD_BYTES: usize = 1024;

/// A stored user. `id` is random and is the tokens' `sub`: a deleted user's name can be taken
/// again without the new account inheriting the old one's refusal.
#[derive(Clone, Debug)]
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) username: String,
    password_hash: String,
}

/// Why a sign-up was refused.
#[derive(Debug)]
pub(crate) enum SignupError {
    /// The username or password breaks a rule; the message says which.
    Invalid(&'static str),
    /// Someone has this username.
    Taken,
    /// The database failed, or hashing did.
    Failed(String),
}

/// Checks the rules: a username of 3 to 64 of `A-Z a-z 0-9 _ . -`, a password of at least 8
/// characters.
pub(crate) fn check_signup(username: &str, password: &str) -> Result<(), &'static str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if !(3..=64).contains(&username.len()) || !username.chars().all(allowed) {
        return Err("the username must be 3 to 64 of the characters A-Z a-z 0-9 _ . -");
    }
    if password.chars().count() < 8 {
        return Err("the password must be at least 8 characters long");
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err("the password must be at most 1024 bytes long");
    }
    Ok(())
}

/// Creates a user; the password is hashed on a blocking thread (argon2 takes a while on purpose).
pub(crate) async fn create(
    database: &Database,
    username: &str,
    password: String,
) -> Result<User, SignupError> {
    check_signup(username, &password).map_err(SignupError::Invalid)?;
    let password_hash = hash(password)
        .await
        .map_err(|error| SignupError::Failed(format!("hashing failed: {error}")))?;
    let id = random_hex(16).map_err(|error| SignupError::Failed(error.to_string()))?;
    let inserted = on_pool!(database, |pool| {
        sqlx::query(
            "INSERT INTO demo_users (id, username, password_hash) VALUES ($1, $2, $3) \
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(&id)
        .bind(username)
        .bind(&password_hash)
        .execute(pool)
        .await
        .map(|done| done.rows_affected())
    })
    .map_err(|error| SignupError::Failed(error.to_string()))?;
    if inserted == 0 {
        return Err(SignupError::Taken);
    }
    Ok(User {
        id,
        username: username.to_owned(),
        password_hash,
    })
}

/// The user with this name and password; `None` for an unknown name and for a wrong password
/// alike, after the same work (a hash is verified either way).
pub(crate) async fn authenticate(
    database: &Database,
    dummy_hash: &str,
    username: &str,
    password: String,
) -> Result<Option<User>, sqlx::Error> {
    let user = by_username(database, username).await?;
    let hash = user
        .as_ref()
        .map_or_else(|| dummy_hash.to_owned(), |user| user.password_hash.clone());
    let matches = verify(password, hash).await;
    Ok(user.filter(|_| matches))
}

/// A hash of a random password, verified against when the username is unknown.
pub(crate) async fn dummy_hash() -> Result<String, String> {
    let password = random_hex(16).map_err(|error| error.to_string())?;
    hash(password).await
}

pub(crate) async fn by_id(database: &Database, id: &str) -> Result<Option<User>, sqlx::Error> {
    const QUERY: &str = "SELECT id, username, password_hash FROM demo_users WHERE id = $1";
    one_user(database, QUERY, id).await
}

async fn by_username(database: &Database, username: &str) -> Result<Option<User>, sqlx::Error> {
    const QUERY: &str = "SELECT id, username, password_hash FROM demo_users WHERE username = $1";
    one_user(database, QUERY, username).await
}

/// The user that `query`, bound to `value`, finds (by a unique column, so at most one).
async fn one_user(
    database: &Database,
    query: &'static str,
    value: &str,
) -> Result<Option<User>, sqlx::Error> {
    let row: Option<(String, String, String)> = on_pool!(database, |pool| {
        sqlx::query_as(query).bind(value).fetch_optional(pool).await
    })?;
    Ok(row.map(into_user))
}

/// Whether a user has this id: the cutoff lookup asks this beside Redis when the cutoffs live
/// there (the SQL stores ask it in their own query).
pub(crate) async fn exists(database: &Database, id: &str) -> Result<bool, sqlx::Error> {
    on_pool!(database, |pool| {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM demo_users WHERE id = $1)")
            .bind(id)
            .fetch_one(pool)
            .await
    })
}

/// Deletes the user with this id; whether there was one.
pub(crate) async fn delete(database: &Database, id: &str) -> Result<bool, sqlx::Error> {
    let deleted = on_pool!(database, |pool| {
        sqlx::query("DELETE FROM demo_users WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
    })?;
    Ok(deleted > 0)
}

fn into_user((id, username, password_hash): (String, String, String)) -> User {
    User {
        id,
        username,
        password_hash,
    }
}

/// Password hashing runs on a few long-lived threads, one per core. Each argon2 hash holds 19 MiB
/// while it runs, and the allocator keeps such blocks per thread once they are freed: on Tokio's
/// growing blocking pool a burst of logins grew the process to 1.8 GiB in the soak run. Hashing is
/// CPU-bound, so more threads than cores would not finish sooner anyway.
type Job = Box<dyn FnOnce() + Send>;

static HASHERS: LazyLock<mpsc::Sender<Job>> = LazyLock::new(|| {
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    for _ in 0..std::thread::available_parallelism().map_or(2, usize::from) {
        let queue = Arc::clone(&queue);
        std::thread::spawn(move || {
            // The lock is held only while waiting for the next job, not while running it.
            while let Ok(job) = queue
                .lock()
                .map_err(drop)
                .and_then(|queue| queue.recv().map_err(drop))
            {
                job();
            }
        });
    }
    jobs
});

/// Runs `work` on a hashing thread.
async fn hashing<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let (done, result) = oneshot::channel();
    HASHERS
        .send(Box::new(move || {
            let _ = done.send(work());
        }))
        .ok()?;
    result.await.ok()
}

/// argon2id with the crate's defaults and a random salt, as a PHC string.
async fn hash(password: String) -> Result<String, String> {
    hashing(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|error| error.to_string())
    })
    .await
    .unwrap_or_else(|| Err("the hashing task failed".to_owned()))
}

async fn verify(password: String, hash: String) -> bool {
    hashing(move || {
        PasswordHash::new(&hash).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::check_signup;

    #[test]
    fn signup_rules() {
        assert!(check_signup("alice", "wonderland").is_ok());
        assert!(check_signup("a.b-c_9", "12345678").is_ok());
        assert!(check_signup(&"a".repeat(64), "12345678").is_ok());
        assert!(check_signup("al", "wonderland").is_err());
        assert!(check_signup(&"a".repeat(65), "wonderland").is_err());
        assert!(check_signup("al ice", "wonderland").is_err());
        assert!(check_signup("alice!", "wonderland").is_err());
        assert!(check_signup("älice", "wonderland").is_err());
        assert!(check_signup("alice", "1234567").is_err());
        assert!(check_signup("alice", "ééééééé").is_err());
        assert!(check_signup("alice", "éééééééé").is_ok());
        assert!(check_signup("alice", &"x".repeat(1025)).is_err());
    }
}

//! A [Redis] store for [jwt-cutoff](https://docs.rs/jwt-cutoff) ([`jwt_cutoff_store`]): "log out from all devices" shared by every instance of a
//! service, with each change pushed to all of them over pub/sub.
//!
//! - [`RedisStore`] is a [`CutoffSource`](jwt_cutoff_store::CutoffSource): a lookup reads the subject's
//!   cutoff and the global one in one `MGET`; a write is one Lua script that raises the cutoff only
//!   if the new one is later (so racing writers never move it back) and, in the same script,
//!   publishes the change. A write and its notification cannot be split: if the script ran, the
//!   message went out.
//! - It is also a [`PushChannel`](jwt_cutoff_store::PushChannel): hand it to
//!   [`CutoffCache::follow`](jwt_cutoff_store::CutoffCache::follow) and a logout on one instance is in force on
//!   every other one as soon as the message arrives (a millisecond or two on a local network),
//!   instead of after a cache TTL.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use jwt_cutoff::{Algorithm, CutoffCache, JwtCutoffLayer, Validator, VerifyingKey};
//! use jwt_cutoff_redis::RedisStore;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = RedisStore::builder(redis::Client::open("redis://127.0.0.1:6379")?)
//!     .key_prefix("my-service:jwt-cutoff:")
//!     .connect()
//!     .await?;
//! let cutoffs = CutoffCache::builder(store.clone())
//!     .time_to_live(Duration::from_secs(30)) // while the push channel is down
//!     .time_to_live_with_push(Duration::from_secs(600)) // while it is up
//!     .build();
//! let _push = cutoffs.follow(store); // every instance applies every change as it happens
//!
//! let validator = Validator::builder()
//!     .algorithms([Algorithm::HS256])
//!     .key(VerifyingKey::hmac(b"an access secret of at least 32 bytes")?)
//!     .build(cutoffs.clone())?;
//! let layer = JwtCutoffLayer::new(validator); // wrap your tower service with it
//!
//! cutoffs.logout_all("alice").await?; // refused here at once, and on every instance by push
//! # let _ = layer;
//! # Ok(())
//! # }
//! ```
//!
//! `redis` is re-exported as [`jwt_cutoff_redis::redis`](redis), so the [`redis::Client`] you pass
//! is always of the version this crate was built with.
//!
//! # In Redis
//!
//! | what | key | value |
//! | --- | --- | --- |
//! | a subject's cutoff | prefix, `s:`, then the subject's bytes | see below |
//! | the cutoff of everyone | prefix, then `g` | see below |
//! | a subject's sessions' cutoffs | prefix, `r:`, then the subject's bytes: a hash | field: the session id; value: the cutoff, a space, and until when it is kept (microseconds since the epoch) |
//! | a subject's sessions' refresh-token rotation ([`RefreshTokens`](jwt_cutoff_store::RefreshTokens)) | prefix, `t:`, then the subject's bytes: a hash | field: the session id; value: when it last rotated, the current token's id, the one it replaced, and until when it is kept, separated by spaces |
//! | change notifications | pub/sub channel, prefix then `changes` by default | [`CutoffChange::encode`](jwt_cutoff_store::CutoffChange::encode) |
//!
//! The prefix defaults to `jwt-cutoff:` (so `jwt-cutoff:s:alice` and `jwt-cutoff:g`) and is set
//! with [`RedisStoreBuilder::key_prefix`], so tenants and tests can share a server. A subject may
//! be any string of at most [`MAX_SUBJECT_BYTES`](jwt_cutoff_store::MAX_SUBJECT_BYTES) (256) bytes,
//! spaces, newlines or the prefix itself included: keys are binary-safe and the subject is their
//! whole tail, so under one prefix two subjects never share a key and no subject's key is the
//! global one. A longer subject is refused with an error, in lookups and writes alike, before
//! Redis is asked: the bound is the one tokens, the issuer and [`CutoffCache`](jwt_cutoff_store::CutoffCache)
//! share, and the store holds to it when used directly as a source too.
//!
//! **Prefixes that share a server must not be prefixes of one another.** A key is the prefix and
//! then the rest, with nothing to mark where the prefix ends, so a prefix that extends another
//! one can share its keys. With tenant A on `t:` and tenant B on `t:s:b:`, A's subject `b:s:x` has
//! the key `t:s:b:s:x`, which is B's subject `x`; and A's subject `b:g` has the key `t:s:b:g`,
//! which is B's cutoff of everyone, so refusing that one subject of A refuses every user of B.
//! End every prefix with a separator and never nest them: `shop:jwt-cutoff:` beside
//! `billing:jwt-cutoff:` is safe, `tenant:` beside `tenant:s:eu:` collides, and any other nesting
//! is one rename away from that (and lets a scan or cleanup of `tenant:*` reach the other
//! tenant's keys). The store cannot check this: each one only knows its own prefix. Pub/sub
//! channels are matched whole, so they cannot collide this way.
//!
//! A cutoff is stored as plain text: microseconds since the Unix epoch as a decimal integer
//! (`1764384000123456`) for "valid from", the word `refused` for a refused subject, and no key at
//! all for "no cutoff". Values are compared exactly, as decimal strings, inside the script (Lua's
//! numbers are doubles and would round past 2^53). A value the store cannot read makes lookups and
//! writes of that key fail rather than guess. Subject and everyone keys never expire: a refused
//! subject must stay refused.
//!
//! A session's cutoff ([`Scope::Session`](jwt_cutoff_store::Scope::Session)) is kept for the
//! store's [session retention](RedisStoreBuilder::session_retention) after it was last raised
//! (31 days by default; at least the refresh-token lifetime). Lookups ignore sessions past it; a
//! session write deletes the subject's sessions past it, in the same script; and the hash expires
//! (`PEXPIREAT`) with its last session, so Redis holds only sessions that may still have a valid
//! token. A lookup reads both cutoffs and the subject's session hash in one pipelined round trip.
//! A refresh-token spend is one script over both of the subject's hashes, so it rotates, or
//! revokes the session for reuse, atomically; rotation records are kept and expire the same way.
//!
//! Redis Cluster is not supported: a lookup reads three keys that would live in different slots.
//! Point the client at a primary (a replica refuses the writes, which then fail).
//!
//! # Failures
//!
//! Commands go through a [`ConnectionManager`](redis::aio::ConnectionManager), one multiplexed
//! connection that reconnects on its own. Each command is bounded by
//! [`RedisStoreBuilder::timeout`] (default 2 s); a command that fails or times out is a
//! [`SourceError`](jwt_cutoff_store::SourceError), and the request that needed it fails closed (503).
//!
//! Push uses a dedicated pub/sub connection per [`CutoffCache::follow`](jwt_cutoff_store::CutoffCache::follow).
//! When it drops, [`RedisSubscription::next_change`](jwt_cutoff_store::PushSubscription::next_change)
//! returns an error and the core does the rest: it clears the cache, falls back to the plain TTL,
//! reconnects with backoff and clears the cache again once subscribed, so nothing published while
//! it was away is missed. A connection that dies without closing (a silent network partition)
//! would never end the stream, so the subscription also pings Redis every
//! [`heartbeat`](RedisStoreBuilder::heartbeat) (default 5 s) and gives up on a missing answer. A
//! message on the channel that is not a change this crate understands also counts as a lost
//! connection: it might have been a logout.
//!
//! # Durability: read this before relying on Redis alone
//!
//! A subject Redis knows nothing about has no cutoff. So a cutoff that Redis *loses* re-admits every
//! token it had revoked, and a refused (deleted) user whose `refused` marker is lost can log in with
//! any unexpired token again. Redis loses recent writes more easily than a database:
//!
//! - With RDB snapshots only (the default), a restart loses everything written since the last
//!   snapshot: minutes of logouts. With `appendonly yes` and the default `appendfsync everysec`, a
//!   crash of the machine loses up to about one second. Only **`appendonly yes` with `appendfsync
//!   always`** loses nothing that was acknowledged, at the cost of one fsync per write (logouts are
//!   rare, so this is usually affordable). The tests of this crate kill a server configured that way
//!   with `SIGKILL` and find the cutoff after the restart, and show it gone without persistence.
//! - **Eviction**: with a `maxmemory-policy` of `allkeys-*`, Redis silently deletes cutoffs under
//!   memory pressure. Use `noeviction`: a `volatile-*` policy spares the subject and everyone keys
//!   (they have no TTL) but may delete session hashes, which expire, before their time.
//! - **Replication** is asynchronous: a failover to a replica can lose the last writes the old
//!   primary acknowledged.
//! - `FLUSHALL`, `FLUSHDB` and a careless `DEL jwt-cutoff:*` do the same.
//!
//! If you cannot run Redis like that, keep the cutoffs in your database as the source of truth (see
//! `jwt-cutoff-sqlx`), and use Redis only for what loses nothing when it forgets: caching and push.
//! If your users table already knows which subjects exist, a source that answers
//! [`Cutoff::Refused`](jwt_cutoff_store::Cutoff::Refused) for unknown ones turns a lost deletion into a
//! refusal rather than a pass (`jwt-cutoff-sqlx` offers that as `known_subjects`). This store
//! cannot know that, so it does not offer it; a small source of your own can ask Redis and the
//! users table at once (concurrently, so a lookup still waits for one round trip) and answer
//! refused when the user is missing, as the project's demo does.
//!
//! It talks to Redis with the [`redis`] crate (why not `fred`: `docs/decisions/redis-client.md` in
//! the repository).
//!
//! This crate depends on `jwt-cutoff-store` only: no HTTP, no JWT, no crypto backend to choose.
//!
//! [Redis]: https://redis.io

mod push;
mod store;

pub use push::RedisSubscription;
pub use redis;
pub use store::{RedisStore, RedisStoreBuilder};

//! Push over Redis pub/sub: [`RedisStore`] as a [`PushChannel`], and [`RedisSubscription`].

use std::fmt;
use std::pin::pin;
use std::time::Duration;

use futures_util::StreamExt as _;
use futures_util::future::{Either, select};
use jwt_cutoff_store::{BoxFuture, CutoffChange, PushChannel, PushSubscription, SourceError};
use redis::aio::{PubSubSink, PubSubStream};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::store::RedisStore;

/// Follow a store with [`CutoffCache::follow`](jwt_cutoff_store::CutoffCache::follow): each follow opens its own
/// pub/sub connection and subscribes to the store's [channel](RedisStore::channel).
impl PushChannel for RedisStore {
    type Subscription = RedisSubscription;

    fn subscribe(&self) -> BoxFuture<'_, Result<RedisSubscription, SourceError>> {
        Box::pin(async move {
            let inner = &self.inner;
            let connect = async {
                let (mut sink, stream) = inner.client.get_async_pubsub().await?.split();
                // Returns once Redis confirmed: every message published from now on is delivered.
                sink.subscribe(&inner.channel).await?;
                Ok::<_, redis::RedisError>((sink, stream))
            };
            let (sink, stream) = match tokio::time::timeout(inner.timeout, connect).await {
                Ok(Ok(connected)) => connected,
                Ok(Err(error)) => return Err(SourceError::from_error(error)),
                Err(_elapsed) => {
                    return Err(SourceError::new(format!(
                        "redis pub/sub: no subscription within {:?}",
                        inner.timeout
                    )));
                }
            };
            let mut heartbeat =
                tokio::time::interval_at(Instant::now() + inner.heartbeat, inner.heartbeat);
            heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
            Ok(RedisSubscription {
                sink,
                stream,
                heartbeat,
                timeout: inner.timeout,
            })
        })
    }
}

/// One pub/sub connection following a [`RedisStore`]'s changes; made by
/// [`CutoffCache::follow`](jwt_cutoff_store::CutoffCache::follow) through [`PushChannel::subscribe`].
///
/// [`next_change`](PushSubscription::next_change) fails when the connection closes, when a
/// heartbeat ping goes unanswered, or when a message on the channel is not a change it can read.
pub struct RedisSubscription {
    sink: PubSubSink,
    stream: PubSubStream,
    heartbeat: Interval,
    timeout: Duration,
}

impl fmt::Debug for RedisSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSubscription")
            .field("heartbeat", &self.heartbeat.period())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl PushSubscription for RedisSubscription {
    fn next_change(&mut self) -> BoxFuture<'_, Result<CutoffChange, SourceError>> {
        Box::pin(async move {
            loop {
                // Both are cancel-safe: a message that arrives as the tick fires stays queued.
                let message = pin!(self.stream.next());
                let tick = pin!(self.heartbeat.tick());
                match select(message, tick).await {
                    Either::Left((Some(message), _)) => {
                        let change = std::str::from_utf8(message.get_payload_bytes())
                            .ok()
                            .and_then(CutoffChange::decode);
                        // Skipping what cannot be read could skip a logout: start over instead,
                        // which clears the cache.
                        return change.ok_or_else(|| {
                            SourceError::new("redis pub/sub: unreadable message on the channel")
                        });
                    }
                    Either::Left((None, _)) => {
                        return Err(SourceError::new("redis pub/sub: connection closed"));
                    }
                    Either::Right((_tick, _)) => {
                        match tokio::time::timeout(self.timeout, self.sink.ping::<redis::Value>())
                            .await
                        {
                            Ok(Ok(_pong)) => {}
                            Ok(Err(error)) => return Err(SourceError::from_error(error)),
                            Err(_elapsed) => {
                                return Err(SourceError::new(format!(
                                    "redis pub/sub: no answer to a ping within {:?}",
                                    self.timeout
                                )));
                            }
                        }
                    }
                }
            }
        })
    }
}

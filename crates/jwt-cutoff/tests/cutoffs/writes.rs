//! Writes: `refuse`, `logout_everyone`, read-only sources, failed writes, what a write returns, the
//! subject bound, and pushed changes for subjects not cached here.

use std::sync::Arc;
use std::time::Duration;

use jwt_cutoff::{
    Cutoff, CutoffCache, CutoffSource, LookupFuture, MAX_SUBJECT_BYTES, MemoryStore, Reason, Scope,
    Timestamp, Validator,
};
use jwt_cutoff_test_support::{
    TestSource, at_secs, hs_access, hs_issuer as issuer, hs_validator as validator, pushed_logout,
    reason_of as reason,
};

#[tokio::test]
async fn refuse_refuses_every_token_of_the_subject_for_good() {
    let cutoffs = CutoffCache::new(MemoryStore::new());
    let validator = validator(cutoffs.clone());
    let issuer = issuer();
    let before = issuer.issue_access("mallory", &()).unwrap().token;
    assert_eq!(reason(&validator, &before).await, None);

    cutoffs.refuse("mallory").await.unwrap();
    assert_eq!(
        cutoffs.lookup("mallory").await.unwrap().cutoff(),
        Cutoff::Refused
    );
    let after = issuer.issue_access("mallory", &()).unwrap().token;
    for token in [&before, &after] {
        assert_eq!(
            reason(&validator, token).await,
            Some(Reason::SubjectRefused)
        );
    }
    // A later logout does not lift the refusal.
    cutoffs.logout_all("mallory").await.unwrap();
    assert_eq!(
        cutoffs.lookup("mallory").await.unwrap().cutoff(),
        Cutoff::Refused
    );
    let later = issuer.issue_access("mallory", &()).unwrap().token;
    assert_eq!(
        reason(&validator, &later).await,
        Some(Reason::SubjectRefused)
    );
    // Others are untouched.
    let alice = issuer.issue_access("alice", &()).unwrap().token;
    assert_eq!(reason(&validator, &alice).await, None);
}

#[tokio::test]
async fn logout_everyone_refuses_older_tokens_of_every_subject() {
    let store = MemoryStore::new();
    let cutoffs = CutoffCache::new(store.clone());
    let validator = validator(cutoffs.clone());
    let issuer = issuer();
    let old_alice = issuer.issue_access("alice", &()).unwrap().token;
    let old_bob = issuer.issue_access("bob", &()).unwrap().token;
    assert_eq!(reason(&validator, &old_alice).await, None); // alice is cached, bob is not

    let at = cutoffs.logout_everyone().await.unwrap();
    for token in [&old_alice, &old_bob] {
        assert_eq!(reason(&validator, token).await, Some(Reason::Revoked));
    }
    for subject in ["alice", "bob", "never-seen"] {
        assert_eq!(cutoffs.lookup(subject).await.unwrap().cutoff(), at);
        let fresh = issuer.issue_access(subject, &()).unwrap().token;
        assert_eq!(reason(&validator, &fresh).await, None, "{subject}");
    }

    // Never lowered, by an older push or a repeated logout.
    cutoffs.apply(Scope::Everyone, Cutoff::ValidFrom(Timestamp::UNIX_EPOCH));
    assert_eq!(reason(&validator, &old_alice).await, Some(Reason::Revoked));
    let again = cutoffs.logout_everyone().await.unwrap();
    assert!(again > at);
    assert_eq!(cutoffs.lookup("alice").await.unwrap().cutoff(), again);

    // Another instance on the same store, with nothing pushed, sees it through the store.
    let elsewhere = validator_on(store);
    assert_eq!(reason(&elsewhere, &old_bob).await, Some(Reason::Revoked));
}

fn validator_on(store: MemoryStore) -> Validator {
    validator(CutoffCache::new(store))
}

/// A read-only store: implements `lookup` only, so `raise` is the trait's default refusal.
struct ReadOnly(MemoryStore);

impl CutoffSource for ReadOnly {
    fn lookup<'a>(&'a self, subject: &'a str) -> LookupFuture<'a> {
        self.0.lookup(subject)
    }
}

#[tokio::test]
async fn read_only_source_refuses_writes_and_nothing_changes() {
    let store = MemoryStore::new();
    let cutoffs = CutoffCache::new(ReadOnly(store.clone()));
    let validator = validator(cutoffs.clone());
    let token = hs_access("alice");
    assert_eq!(reason(&validator, &token).await, None);

    assert!(cutoffs.logout_all("alice").await.is_err());
    assert!(cutoffs.refuse("alice").await.is_err());
    assert!(cutoffs.logout_everyone().await.is_err());
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        Cutoff::NoCutoff
    );
    assert_eq!(
        cutoffs.lookup("bob").await.unwrap().cutoff(),
        Cutoff::NoCutoff
    );
    assert_eq!(reason(&validator, &token).await, None, "nothing changed");
    assert_eq!(
        store.lookup("alice").await.unwrap().cutoff(),
        Cutoff::NoCutoff
    );

    // The application writes its own store, then tells this instance.
    pushed_logout(&store, &cutoffs, "alice").await;
    assert_eq!(reason(&validator, &token).await, Some(Reason::Revoked));
}

#[tokio::test]
async fn failed_write_changes_nothing() {
    let source = TestSource::new(MemoryStore::new());
    let cutoffs = CutoffCache::new(Arc::clone(&source));
    let validator = validator(cutoffs.clone());
    let token = hs_access("alice");
    assert_eq!(reason(&validator, &token).await, None);

    source.fail(true);
    assert!(cutoffs.logout_all("alice").await.is_err());
    assert!(cutoffs.logout_everyone().await.is_err());
    assert!(cutoffs.refuse("alice").await.is_err());
    source.fail(false);
    assert_eq!(reason(&validator, &token).await, None, "nothing changed");
    cutoffs.invalidate("alice");
    assert_eq!(reason(&validator, &token).await, None, "nor in the store");
}

/// Another instance got there first: the write keeps the later cutoff, and the caller learns it.
#[tokio::test]
async fn logout_all_returns_what_the_store_holds() {
    let store = MemoryStore::new();
    let cutoffs = CutoffCache::new(store.clone());
    let later = Cutoff::ValidFrom(Timestamp::now().saturating_add(Duration::from_secs(3600)));
    store.raise(Scope::Subject("alice"), later).await.unwrap();
    assert_eq!(cutoffs.logout_all("alice").await.unwrap(), later);
    store
        .raise(Scope::Subject("alice"), Cutoff::Refused)
        .await
        .unwrap();
    assert_eq!(cutoffs.logout_all("alice").await.unwrap(), Cutoff::Refused);
    assert_eq!(
        cutoffs.lookup("alice").await.unwrap().cutoff(),
        Cutoff::Refused
    );

    store.raise(Scope::Everyone, later).await.unwrap();
    assert_eq!(cutoffs.logout_everyone().await.unwrap(), later);
    let mine = cutoffs.logout_all("bob").await.unwrap();
    assert!(mine < later, "bob's own cutoff is the new instant");
    assert_eq!(cutoffs.lookup("bob").await.unwrap().cutoff(), later);
}

/// Subjects are bounded as in tokens, so that every store can keep and push any subject it is
/// given; a longer one never reaches the store.
#[tokio::test]
async fn subjects_longer_than_a_token_may_name_never_reach_the_store() {
    let source = TestSource::new(MemoryStore::new());
    let cutoffs = CutoffCache::new(Arc::clone(&source));
    let longest = "é".repeat(MAX_SUBJECT_BYTES / 2);
    assert!(cutoffs.logout_all(&longest).await.unwrap() > Cutoff::NoCutoff);
    assert!(cutoffs.lookup(&longest).await.unwrap().cutoff() > Cutoff::NoCutoff);
    let (writes, calls) = (source.writes(), source.calls());

    let too_long = format!("{longest}x");
    assert!(cutoffs.logout_all(&too_long).await.is_err());
    assert!(cutoffs.refuse(&too_long).await.is_err());
    assert!(cutoffs.lookup(&too_long).await.is_err());
    assert!(cutoffs.lookup_in_store(&too_long).await.is_err());
    assert_eq!((source.writes(), source.calls()), (writes, calls));
}

#[tokio::test]
async fn a_change_for_a_subject_not_cached_here_costs_no_lookup() {
    let store = MemoryStore::new();
    let source = TestSource::new(store.clone());
    let cutoffs = CutoffCache::new(Arc::clone(&source));
    for i in 0..100 {
        let subject = format!("user-{i}");
        let stored = store
            .raise(Scope::Subject(&subject), at_secs(1_700_000_000 + i))
            .await
            .unwrap();
        cutoffs.apply(Scope::Subject(&subject), stored);
    }
    assert_eq!(
        source.calls(),
        0,
        "pushed changes for strangers must not load them"
    );
    // Their first lookup reads the changed store.
    assert_eq!(
        cutoffs.lookup("user-7").await.unwrap().cutoff(),
        at_secs(1_700_000_007)
    );
    assert_eq!(source.calls(), 1);
}

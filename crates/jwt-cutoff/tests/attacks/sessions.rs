//! Session ids (`sid`): a string of 1 to `MAX_SESSION_ID_BYTES` bytes, once, or no session at all;
//! anything else is refused before any lookup.

use jwt_cutoff::{MAX_SESSION_ID_BYTES, Reason, Timestamp, TokenPair};
use jwt_cutoff_test_support::*;

use crate::{counted, in_memory, refuses_claim_values};

#[tokio::test]
async fn bad_session_ids_are_refused_without_lookup() {
    let (guarded, source, _cutoffs) = counted();
    let too_long = format!("\"{}\"", "s".repeat(MAX_SESSION_ID_BYTES + 1));
    let cases: &[(Option<&str>, Reason)] = &[
        (Some("\"\""), Reason::InvalidClaim),
        (Some(&too_long), Reason::InvalidClaim),
        (Some("null"), Reason::InvalidClaim),
        (Some("42"), Reason::InvalidClaim),
        (Some("[\"a\"]"), Reason::InvalidClaim),
        (Some("{\"id\":\"a\"}"), Reason::InvalidClaim),
    ];
    refuses_claim_values(&guarded, "sid", cases).await;
    let twice = with_members(&payload(&[("sid", Some("\"a\""))]), "\"sid\":\"b\"");
    guarded
        .refuses(&hs_token(&twice), Reason::InvalidClaim, "sid twice")
        .await;
    source.assert_no_lookups();
}

#[tokio::test]
async fn tokens_with_or_without_a_session_are_accepted() {
    let (guarded, _source, _cutoffs) = counted();
    let longest = format!("\"{}\"", "s".repeat(MAX_SESSION_ID_BYTES));
    for sid in [
        None,
        Some("\"a\""),
        Some("\"\\u0061\""),
        Some(longest.as_str()),
    ] {
        let token = hs_token(&payload(&[("sid", sid)]));
        guarded
            .accepts(&token, "alice", &format!("sid {sid:?}"))
            .await;
    }
}

/// Which cutoff a step of [`every_scope_refuses_what_it_covers_in_every_order`] raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Write {
    Everyone,
    Subject,
    Session,
}

/// A pair minted in the combination test, and what covers it.
struct Minted {
    what: String,
    subject: &'static str,
    pair: TokenPair,
    /// How many writes had been made when it was minted.
    after_writes: usize,
}

/// SPEC 20: the everyone, subject and session cutoffs, written in every order, each refuse exactly
/// the tokens they cover (the tokens of logins before them, and for a session every token that
/// carries it), and combine by the latest: no write undoes another, whatever came first. Every
/// access token is judged through the layer twice (the second time from the token cache), every
/// refresh token by a refresh validator, which reads the store.
#[tokio::test]
async fn every_scope_refuses_what_it_covers_in_every_order() {
    let writes = [Write::Everyone, Write::Subject, Write::Session];
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let issuer = hs_issuer();
    for order in orders {
        let order = order.map(|index| writes[index]);
        let (guarded, cutoffs) = in_memory();
        let refresh = hs_refresh_validator(cutoffs.clone());
        let mint = |subject: &'static str, what: &str, after_writes: usize| Minted {
            what: format!("{what} (after {after_writes} writes)"),
            subject,
            pair: issuer.issue_pair(subject, &()).unwrap(),
            after_writes,
        };
        let mut minted = vec![
            mint("alice", "alice's revoked session", 0),
            mint("alice", "alice's other session", 0),
            mint("bob", "bob's session", 0),
        ];
        let revoked_session = minted[0].pair.session_id.clone();
        // When each write was made: its position in the order.
        let mut made_at = Vec::new();
        for (step, write) in order.into_iter().enumerate() {
            match write {
                Write::Everyone => drop(cutoffs.logout_everyone().await.unwrap()),
                Write::Subject => drop(cutoffs.logout_all("alice").await.unwrap()),
                Write::Session => cutoffs
                    .revoke_session("alice", &revoked_session)
                    .await
                    .unwrap(),
            }
            made_at.push((write, step + 1));
            minted.push(mint("alice", "a later alice login", step + 1));
            minted.push(mint("bob", "a later bob login", step + 1));
            for token in &minted {
                let covered_by = made_at.iter().find(|(write, made)| {
                    let before = token.after_writes < *made;
                    match write {
                        Write::Everyone => before,
                        Write::Subject => before && token.subject == "alice",
                        Write::Session => token.pair.session_id == revoked_session,
                    }
                });
                let what = format!("{order:?}, step {step}: {}", token.what);
                let refused = covered_by.map(|_| Reason::Revoked);
                let access = &token.pair.access.token;
                guarded
                    .decides(access, refused, token.subject, &format!("{what}, access"))
                    .await;
                let refreshed = refresh.validate(&token.pair.refresh.token).await;
                assert_eq!(
                    refreshed.err().map(|rejection| rejection.reason()),
                    refused,
                    "{what}, refresh (covered by {covered_by:?})"
                );
            }
        }
    }
}

/// A revoked session refuses a token of it whatever its instants claim: one minted (or forged with
/// the key) long after the revocation, with a fresh `iat` and `auth_time`, is refused too.
#[tokio::test]
async fn a_revoked_session_refuses_its_tokens_whenever_they_were_issued() {
    let (guarded, cutoffs) = in_memory();
    cutoffs.revoke_session("alice", "stolen").await.unwrap();
    let later = Timestamp::now().as_unix_secs() + 5;
    let token = hs_token(&payload(&[
        ("sid", Some("\"stolen\"")),
        ("iat", Some(&later.to_string())),
        ("auth_time", Some(&later.to_string())),
    ]));
    guarded
        .refuses(&token, Reason::Revoked, "a token of the revoked session")
        .await;
    let other = hs_token(&payload(&[("sid", Some("\"kept\""))]));
    guarded
        .accepts(&other, "alice", "another session of the subject")
        .await;
    let bob = hs_token(&payload(&[
        ("sub", Some("\"bob\"")),
        ("sid", Some("\"stolen\"")),
    ]));
    guarded
        .accepts(&bob, "bob", "the same session id under another subject")
        .await;
}

//! Replays the committed corpus (and every reproducer in `regressions/`) through the fuzz checks on
//! a stable toolchain: `cargo test --manifest-path fuzz/Cargo.toml`.

use std::fs;
use std::path::{Path, PathBuf};

use jwt_cutoff::Reason;
use jwt_cutoff_fuzz::{
    check_headers, check_jwks, check_logout_token, check_numeric_date, check_token, decision,
    logout_decision,
};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut inputs = Vec::new();
    for dir in [
        root.join("corpus").join(target),
        root.join("regressions").join(target),
    ] {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if let Ok(data) = fs::read(&path) {
                inputs.push((path, data));
            }
        }
    }
    inputs.sort();
    inputs
}

fn replay(target: &str, check: fn(&[u8])) {
    let inputs = inputs(target);
    assert!(!inputs.is_empty(), "no corpus for {target}");
    for (path, data) in inputs {
        eprintln!("{}", path.display());
        check(&data);
    }
}

#[test]
fn authorization_header_corpus() {
    replay("authorization_header", check_headers);
}

#[test]
fn token_corpus() {
    replay("token", check_token);
}

#[test]
fn numeric_date_corpus() {
    replay("numeric_date", check_numeric_date);
}

#[test]
fn jwks_corpus() {
    replay("jwks", check_jwks);
}

#[test]
fn logout_token_corpus() {
    replay("logout_token", check_logout_token);
}

/// The seeds reach the end of the validator: accepted, revoked, or refused for the reason named.
#[test]
fn seed_tokens_reach_the_decisions_they_were_made_for() {
    let seed = |name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus/token")
            .join(name);
        String::from_utf8(fs::read(path).unwrap_or_default()).unwrap_or_default()
    };
    assert_eq!(decision(&seed("alice-access")), Ok("alice".to_owned()));
    assert_eq!(decision(&seed("extra-claims")), Ok("bob".to_owned()));
    assert_eq!(decision(&seed("long-subject")), Ok("s".repeat(256)));
    assert_eq!(
        decision(&seed("alice-refresh")),
        Err(Reason::WrongTokenType)
    );
    assert_eq!(decision(&seed("revoked-access")), Err(Reason::Revoked));
    assert_eq!(decision(&seed("unknown-kid")), Err(Reason::UnknownKey));
    assert_eq!(decision(&seed("alg-none")), Err(Reason::MalformedToken));
}

/// The numeric-date oracle itself, on the cases the spec names.
#[test]
fn the_numeric_date_oracle_follows_the_spec() {
    use jwt_cutoff_fuzz::oracle_numeric_date as parse;
    assert_eq!(parse("0"), Some(0));
    assert_eq!(parse("1764384000"), Some(1_764_384_000_000_000));
    assert_eq!(parse("1764384000.5"), Some(1_764_384_000_500_000));
    assert_eq!(parse("1764384000.9999999"), Some(1_764_384_000_999_999));
    assert_eq!(parse("253402300799"), Some(253_402_300_799_000_000));
    for refused in [
        "",
        "-1",
        "+1",
        "01",
        "1e3",
        "1.",
        ".5",
        "1.5e3",
        "NaN",
        "null",
        "\"1\"",
        " 1",
        "1 ",
        "253402300800",
        "1e308",
        "9223372036854775808",
        "1..2",
        "1.2.3",
        "0x10",
    ] {
        assert_eq!(parse(refused), None, "{refused:?}");
    }
}

/// The logout-token seeds reach the decisions they were made for.
#[test]
fn seed_logout_tokens_reach_the_decisions_they_were_made_for() {
    let seed = |name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus/logout_token")
            .join(name);
        String::from_utf8(fs::read(path).unwrap_or_default()).unwrap_or_default()
    };
    let some = |text: &str| Some(text.to_owned());
    assert_eq!(logout_decision(&seed("sub")), Ok((some("alice"), None)));
    assert_eq!(logout_decision(&seed("sid")), Ok((None, some("s1"))));
    assert_eq!(
        logout_decision(&seed("sub-and-sid")),
        Ok((some("alice"), some("s1")))
    );
    for refused in [
        "nonce",
        "other-client",
        "no-subject",
        "access-type",
        "events-array",
        "expired",
    ] {
        assert_eq!(logout_decision(&seed(refused)), Err(400), "{refused}");
    }
}

//! Property-based fuzzing of the `X-Hub-Signature-256` check
//! (`whatsapp::verify_signature`): it never panics, and it accepts a header
//! exactly when the header is `sha256=` + the hex HMAC-SHA256 of the body
//! with the app secret (the right HMAC, and nothing else).
//!
//! `PROPTEST_CASES=100000 cargo test -p chatobs-integrations --test fuzz_signature`

mod fuzz_common;

use chatobs_integrations::whatsapp::{sign, verify_signature, SignatureError};
use fuzz_common::*;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use sha2::Sha256;

fn mac(secret: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).unwrap();
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

/// The rule, written out: what the check must answer.
fn model(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let h = header.ok_or(SignatureError::Missing)?.trim();
    let Some(hexsig) = h.strip_prefix("sha256=") else {
        return Err(SignatureError::Malformed);
    };
    if hexsig.len() != 64 || !hexsig.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SignatureError::Malformed);
    }
    let got: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hexsig[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    if got == mac(secret, body) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn bodies() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        any::<prop::sample::Index>().prop_map(|i| {
            let c = corpus("whatsapp", "json");
            c[i.index(c.len())].1.clone()
        }),
    ]
}

/// Headers near the right one: cut, extended, one digit changed, case
/// changed, prefix changed, whitespace, non-ASCII.
fn near(right: &str, how: u8, at: prop::sample::Index, c: char) -> String {
    let hex = &right["sha256=".len()..];
    let i = at.index(hex.len());
    match how % 10 {
        0 => right[..right.len() - 1].to_owned(),
        1 => format!("{right}0"),
        2 => {
            let mut h: Vec<char> = hex.chars().collect();
            h[i] = if h[i] == '0' { '1' } else { '0' };
            format!("sha256={}", h.into_iter().collect::<String>())
        }
        3 => right.to_ascii_uppercase(),
        4 => format!("sha256={}", hex.to_ascii_uppercase()),
        5 => format!("sha1={hex}"),
        6 => format!("  {right}\t"),
        7 => format!("sha256={}{c}{}", &hex[..i], &hex[i + 1..]),
        8 => format!("sha256= {hex}"),
        _ => format!("sha256={}", &hex[..i]),
    }
}

#[test]
fn corpus_bodies_signed_by_meta_verify() {
    for (name, body) in corpus("whatsapp", "json") {
        let h = sign(b"meta-app-secret-0123456789", body);
        assert_eq!(
            verify_signature(b"meta-app-secret-0123456789", body, Some(&h)),
            Ok(()),
            "{name}"
        );
        assert_eq!(
            verify_signature(b"meta-app-secret-012345678", body, Some(&h)),
            Err(SignatureError::Mismatch),
            "{name}"
        );
    }
}

proptest! {
    #![proptest_config(config(1000, "fuzz_signature"))]

    /// Anything at all: the check agrees with the rule and never panics.
    #[test]
    fn arbitrary_headers_follow_the_rule(
        secret in prop::collection::vec(any::<u8>(), 0..80),
        body in bodies(),
        header in prop::option::of(prop_oneof![
            ".{0,80}",
            "sha256=[0-9a-fA-F]{60,68}",
            "[ \t]{0,2}sha256=[0-9a-f]{64}[ \t]{0,2}",
        ]),
    ) {
        let got = verify_signature(&secret, &body, header.as_deref());
        prop_assert_eq!(got, model(&secret, &body, header.as_deref()));
    }

    /// The right HMAC is accepted; every near miss, another secret or another
    /// body is refused.
    #[test]
    fn only_the_right_hmac_passes(
        secret in prop::collection::vec(any::<u8>(), 1..80),
        other_secret in prop::collection::vec(any::<u8>(), 1..80),
        body in bodies(),
        extra in any::<u8>(),
        how in any::<u8>(),
        at in any::<prop::sample::Index>(),
        c in any::<char>(),
    ) {
        let right = sign(&secret, &body);
        prop_assert_eq!(right.len(), "sha256=".len() + 64);
        prop_assert_eq!(verify_signature(&secret, &body, Some(&right)), Ok(()));
        if other_secret != secret {
            prop_assert_eq!(
                verify_signature(&other_secret, &body, Some(&right)),
                Err(SignatureError::Mismatch)
            );
        }
        let mut longer = body.clone();
        longer.push(extra);
        prop_assert_eq!(
            verify_signature(&secret, &longer, Some(&right)),
            Err(SignatureError::Mismatch)
        );
        let h = near(&right, how, at, c);
        let expected = model(&secret, &body, Some(&h));
        prop_assert_eq!(verify_signature(&secret, &body, Some(&h)), expected);
        // Only the same digits (in either case, around whitespace) pass.
        if expected.is_ok() {
            prop_assert_eq!(h.trim().to_ascii_lowercase().replace("sha256=", ""), right["sha256=".len()..].to_owned());
        }
    }
}

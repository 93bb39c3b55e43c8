//! No input panics: malformed endpoints, headers that are not valid HTTP
//! headers or gRPC metadata, broken certificate files. Each is rejected by
//! `check` with an error naming the key or variable (and the path, for
//! files), never a secret value; `OtlpExporter::new` and
//! `metrics::configure` return the same error instead of panicking.
#![cfg(feature = "metrics")]

mod support;

use chatobs_core::config::{Errors, Section};
use chatobs_metrics::{MetricsConfig, OtlpMetrics};
use chatobs_otlp::{check, metrics, OtlpConfig, OtlpExporter, OtlpProtocol, OtlpTarget};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// `metrics::configure` installs a process-wide mirror: one at a time.
static MIRROR: Mutex<()> = Mutex::new(());

const PROTOCOLS: [OtlpProtocol; 2] = [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf];

/// Every path the facade takes with `t` returns `Err` (never panics) and
/// the error is the one `check` gives. Returns that message.
fn rejected_everywhere(t: &OtlpTarget) -> String {
    let e = check(t).expect_err("check must reject it").to_string();
    let n = OtlpExporter::new(t)
        .expect_err("new must reject it")
        .to_string();
    assert_eq!(n, e, "OtlpExporter::new and check disagree");
    let _g = MIRROR.lock().unwrap_or_else(|e| e.into_inner());
    let m = MetricsConfig {
        otlp: OtlpMetrics::On,
        ..MetricsConfig::default()
    };
    let c = metrics::configure(t, &m, &[1.0], &[1.0], None)
        .expect_err("configure must reject it")
        .to_string();
    metrics::shutdown();
    assert_eq!(c, e, "metrics::configure and check disagree");
    e
}

#[test]
fn malformed_endpoints_are_errors_naming_where_they_came_from() {
    let table: &[(&str, &str)] = &[
        ("http://exa mple.com", "not a valid URL"),
        ("localhost:4317", "scheme"),
        ("collector:4317", "scheme"),
        ("https://collector.example.com:99999", "invalid port"),
        ("https://collector.example.com:-1", "not a valid URL"),
        ("http://", "not a valid URL"),
        ("https://:4317", "not a valid URL"),
        ("http://[::1", "not a valid URL"),
        ("ftp://collector.example.com", "scheme \"ftp\""),
        ("http://bad\u{FFFD}host:4317", "not a valid URL"),
        ("http://a\u{3000}b:4317", "not a valid URL"),
        (
            "https://user:s3cr3t@collector.example.com",
            "credentials belong in headers",
        ),
        (
            "https://collector.example.com/?api_key=s3cr3t",
            "query string",
        ),
        ("\u{7}\u{0}", "scheme"),
    ];
    for (endpoint, why) in table {
        for protocol in PROTOCOLS {
            let t = support::target(protocol, (*endpoint).to_owned());
            let e = rejected_everywhere(&t);
            assert!(e.starts_with("otlp.endpoint: "), "{endpoint:?}: {e}");
            assert!(e.contains(why), "{endpoint:?}: expected {why:?} in {e}");
            assert!(!e.contains("s3cr3t"), "a credential was echoed: {e}");
        }
    }
    // Where the value came from: the variable that set it.
    let env: BTreeMap<&str, &str> = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://exa mple.com")]
        .into_iter()
        .collect();
    let mut c = OtlpConfig::default();
    let mut errs = Errors::new(None);
    c.apply_env(&|k| env.get(k).map(|v| v.to_string()), &mut errs);
    c.validate(&mut errs);
    let e = errs.into_result().unwrap_err().to_string();
    assert!(e.starts_with("OTEL_EXPORTER_OTLP_ENDPOINT: "), "{e}");
    // A unicode host is fine: it is sent IDNA-encoded.
    let t = support::target(
        OtlpProtocol::HttpProtobuf,
        "http://bücher.example:4318".into(),
    );
    check(&t).unwrap();
}

#[test]
fn an_http_path_on_grpc_is_a_mistake_named_as_such() {
    let t = support::target(OtlpProtocol::Grpc, "http://127.0.0.1:4318/v1/traces".into());
    let e = rejected_everywhere(&t);
    assert!(
        e.contains("/v1/traces") && e.contains("http/protobuf"),
        "{e}"
    );
}

#[test]
fn headers_that_cannot_be_sent_are_named_without_their_value() {
    // (name, value, rejected over gRPC, rejected over HTTP)
    let table: &[(&str, &str, bool, bool)] = &[
        ("x bad", "v", true, true),
        ("x-ok", "line\nbreak-s3cr3t", true, true),
        ("x-ok", "nul\0s3cr3t", true, true),
        ("x-ok", "caf\u{e9}-s3cr3t", true, false), // obs-text: valid in HTTP, not in gRPC's printable-ASCII metadata
        ("x-\u{e9}", "v", true, true),
        ("", "v", true, true),
        ("x-token-bin", "s3cr3t", true, false),
        ("x:colon", "v", true, true),
        ("x-fine", "a b=c", false, false),
    ];
    for (name, value, grpc_bad, http_bad) in table {
        for protocol in PROTOCOLS {
            let mut t = support::target(protocol, "http://127.0.0.1:4317".into());
            t.otlp
                .headers
                .insert((*name).to_owned(), (*value).to_owned());
            let bad = match protocol {
                OtlpProtocol::Grpc => *grpc_bad,
                OtlpProtocol::HttpProtobuf => *http_bad,
            };
            if !bad {
                check(&t).unwrap();
                OtlpExporter::new(&t).unwrap();
                continue;
            }
            let e = rejected_everywhere(&t);
            assert!(
                e.contains(&format!("{name:?}")),
                "{name:?}/{protocol:?}: {e}"
            );
            assert!(!e.contains("s3cr3t"), "the value was shown: {e}");
        }
    }
    // The variable is named when the header came from it.
    let env: BTreeMap<&str, &str> = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-a=caf%C3%A9-s3cr3t"), // é: not gRPC metadata
    ]
    .into_iter()
    .collect();
    let mut c = OtlpConfig::default();
    let mut errs = Errors::new(None);
    c.apply_env(&|k| env.get(k).map(|v| v.to_string()), &mut errs);
    assert!(errs.is_empty());
    let t = OtlpTarget {
        otlp: c,
        ..support::target(OtlpProtocol::Grpc, String::new())
    };
    let e = rejected_everywhere(&t);
    assert!(e.starts_with("OTEL_EXPORTER_OTLP_HEADERS: "), "{e}");
    assert!(!e.contains("s3cr3t"), "{e}");
}

#[test]
fn broken_certificate_files_name_the_key_and_the_path() {
    let pki = support::pki();
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        support::path(&p)
    };
    let garbage = file("garbage.pem", b"\x00\xff not a certificate \x13");
    let empty = file("empty.pem", b"");
    let blank = file("blank.pem", b"  \n\n");
    let bad_b64 = file(
        "bad.pem",
        b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    );
    let not_der = file(
        "notder.pem",
        b"-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n",
    );
    let missing = support::path(&dir.path().join("missing.pem"));
    let directory = support::path(dir.path());
    let key = support::path(&pki.client_key);
    let cert = support::path(&pki.client_cert);

    // CA files: (path, expected words).
    let cas: &[(&str, &str)] = &[
        (&garbage, "no PEM certificate"),
        (&empty, "is empty"),
        (&blank, "is empty"),
        (&bad_b64, "not a valid certificate"),
        (&not_der, "cannot be a trust anchor"),
        (&missing, "cannot read"),
        (&directory, "cannot read"),
        (&key, "private key, not a certificate"),
    ];
    for (p, why) in cas {
        for protocol in PROTOCOLS {
            let mut t = support::target(protocol, "https://127.0.0.1:4317".into());
            t.otlp.certificate = (*p).to_owned();
            let e = rejected_everywhere(&t);
            assert!(e.starts_with("otlp.certificate: "), "{p}: {e}");
            assert!(e.contains(p), "the path is named: {e}");
            assert!(e.contains(why), "{p}: expected {why:?} in {e}");
        }
    }
    // Client identity: (certificate, key, key or variable blamed, words).
    let ids: &[(&str, &str, &str, &str)] = &[
        (
            &cert,
            "",
            "otlp.client_certificate",
            "needs its private key",
        ),
        ("", &key, "otlp.client_key", "needs its certificate"),
        (
            &cert,
            &cert,
            "otlp.client_key",
            "a certificate, not a private key",
        ),
        (
            &key,
            &key,
            "otlp.client_certificate",
            "private key, not a certificate",
        ),
        (&cert, &garbage, "otlp.client_key", "no usable private key"),
        (&cert, &missing, "otlp.client_key", "cannot read"),
        (
            &cert,
            &support::path(&pki.other_client_key),
            "otlp.client_key",
            "cannot be used with its certificate",
        ),
    ];
    for (c, k, at, why) in ids {
        let mut t = support::target(OtlpProtocol::HttpProtobuf, "https://127.0.0.1:4318".into());
        t.otlp.certificate = support::path(&pki.ca);
        t.otlp.client_certificate = (*c).to_owned();
        t.otlp.client_key = (*k).to_owned();
        let e = rejected_everywhere(&t);
        assert!(e.contains(&format!("{at}: ")), "{c} {k}: {e}");
        assert!(e.contains(why), "{c} {k}: expected {why:?} in {e}");
    }
    // The per-signal variable is the one named.
    let env: BTreeMap<&str, String> = [
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://127.0.0.1:4317".to_string(),
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", garbage.clone()),
    ]
    .into_iter()
    .collect();
    let mut c = OtlpConfig::default();
    let mut errs = Errors::new(None);
    c.apply_env(&|k| env.get(k).cloned(), &mut errs);
    let t = OtlpTarget {
        otlp: c,
        ..support::target(OtlpProtocol::Grpc, String::new())
    };
    let e = check(&t).unwrap_err().to_string();
    assert!(
        e.starts_with("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE: "),
        "{e}"
    );
    assert!(e.contains(&garbage), "{e}");
    // Certificate files are only read for https:// endpoints.
    let mut t = support::target(OtlpProtocol::Grpc, "http://127.0.0.1:4317".into());
    t.otlp.certificate = missing.clone();
    check(&t).unwrap();
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut t = support::target(OtlpProtocol::Grpc, "https://127.0.0.1:4317".into());
    t.otlp.certificate = "/nonexistent/ca.pem".into();
    t.otlp.headers.insert("bad name".into(), "v".into());
    t.otlp.metrics_endpoint = "http://exa mple.com".into();
    let e = check(&t).unwrap_err().to_string();
    assert!(e.starts_with("3 configuration errors:"), "{e}");
    assert!(e.contains("otlp.certificate: "), "{e}");
    assert!(e.contains("otlp.headers.bad name: "), "{e}");
    assert!(e.contains("otlp.metrics_endpoint: "), "{e}");
}

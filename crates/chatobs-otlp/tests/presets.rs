//! Presets: each backend plus its documented variables gives the expected
//! endpoint, protocol and header *names*; a missing secret is an error naming
//! the variable; header values (secrets) are never printed, not even here.

mod support;

use chatobs_core::config::{Errors, Section};
use chatobs_otlp::{check, MetricsExporter, OtlpConfig, OtlpProtocol, OtlpTarget, Preset};
use std::collections::BTreeMap;

const SECRET: &str = "s3cr3t-VALUE";

fn load(file: Option<Preset>, env: &[(&str, &str)]) -> (OtlpConfig, Result<(), String>) {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut c = OtlpConfig::default();
    c.preset = file;
    let mut errs = Errors::new(None);
    c.apply_env(&|k| env.get(k).cloned(), &mut errs);
    c.validate(&mut errs);
    let r = errs.into_result().map_err(|e| e.to_string());
    if let Err(e) = &r {
        assert!(!e.contains(SECRET), "a secret was printed: {e}");
    }
    (c, r)
}

fn names(c: &OtlpConfig) -> Vec<&str> {
    c.headers.keys().map(String::as_str).collect()
}

/// (preset, env, endpoint, protocol, header names, metrics)
type Case = (
    Preset,
    Vec<(&'static str, &'static str)>,
    &'static str,
    OtlpProtocol,
    Vec<&'static str>,
    MetricsExporter,
);

#[test]
fn each_preset_selects_endpoint_protocol_and_header_names() {
    use MetricsExporter::{None as NoMetrics, Otlp};
    use OtlpProtocol::{Grpc, HttpProtobuf};
    // (preset, env, endpoint, protocol, header names, metrics)
    let table: Vec<Case> = vec![
        (
            Preset::Logfire,
            vec![("LOGFIRE_TOKEN", SECRET)],
            "https://logfire-us.pydantic.dev",
            HttpProtobuf,
            vec!["authorization"],
            Otlp,
        ),
        (
            Preset::Logfire,
            vec![("LOGFIRE_TOKEN", "pylf_v1_eu_s3cr3t-VALUE")],
            "https://logfire-eu.pydantic.dev",
            HttpProtobuf,
            vec!["authorization"],
            Otlp,
        ),
        (
            Preset::Langfuse,
            vec![
                ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
                ("LANGFUSE_SECRET_KEY", SECRET),
            ],
            "https://cloud.langfuse.com/api/public/otel",
            HttpProtobuf,
            vec!["authorization", "x-langfuse-ingestion-version"],
            NoMetrics,
        ),
        (
            Preset::LangfuseUs,
            vec![
                ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
                ("LANGFUSE_SECRET_KEY", SECRET),
            ],
            "https://us.cloud.langfuse.com/api/public/otel",
            HttpProtobuf,
            vec!["authorization", "x-langfuse-ingestion-version"],
            NoMetrics,
        ),
        (
            Preset::Langfuse,
            vec![
                ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
                ("LANGFUSE_SECRET_KEY", SECRET),
                ("LANGFUSE_HOST", "https://langfuse.internal/"),
            ],
            "https://langfuse.internal/api/public/otel",
            HttpProtobuf,
            vec!["authorization", "x-langfuse-ingestion-version"],
            NoMetrics,
        ),
        (
            Preset::Arize,
            vec![
                ("ARIZE_SPACE_ID", "U3BhY2U6MQ=="),
                ("ARIZE_API_KEY", SECRET),
            ],
            "https://otlp.arize.com/v1",
            Grpc,
            vec!["arize-interface", "arize-space-id", "authorization"],
            NoMetrics,
        ),
        (
            Preset::Honeycomb,
            vec![("HONEYCOMB_API_KEY", SECRET)],
            "https://api.honeycomb.io",
            HttpProtobuf,
            vec!["x-honeycomb-team"],
            Otlp,
        ),
        (
            Preset::Honeycomb,
            vec![
                ("HONEYCOMB_API_KEY", SECRET),
                ("HONEYCOMB_DATASET", "bot-metrics"),
                ("HONEYCOMB_API_ENDPOINT", "https://api.eu1.honeycomb.io"),
            ],
            "https://api.eu1.honeycomb.io",
            HttpProtobuf,
            vec!["x-honeycomb-dataset", "x-honeycomb-team"],
            Otlp,
        ),
        (
            Preset::Grafana,
            vec![
                (
                    "GRAFANA_CLOUD_OTLP_ENDPOINT",
                    "https://otlp-gateway-prod-eu-west-0.grafana.net/otlp",
                ),
                ("GRAFANA_CLOUD_INSTANCE_ID", "123456"),
                ("GRAFANA_CLOUD_API_KEY", SECRET),
            ],
            "https://otlp-gateway-prod-eu-west-0.grafana.net/otlp",
            HttpProtobuf,
            vec!["authorization"],
            Otlp,
        ),
        // Grafana's own documented variables only.
        (
            Preset::Grafana,
            vec![
                (
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    "https://otlp-gateway-prod-us-east-0.grafana.net/otlp",
                ),
                (
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "Authorization=Basic%20czNjcjN0",
                ),
            ],
            "https://otlp-gateway-prod-us-east-0.grafana.net/otlp",
            HttpProtobuf,
            vec!["authorization"],
            Otlp,
        ),
        (
            Preset::Phoenix,
            vec![],
            "http://localhost:6006",
            HttpProtobuf,
            vec![],
            NoMetrics,
        ),
        (
            Preset::Phoenix,
            vec![
                (
                    "PHOENIX_COLLECTOR_ENDPOINT",
                    "https://app.phoenix.arize.com",
                ),
                ("PHOENIX_API_KEY", SECRET),
            ],
            "https://app.phoenix.arize.com",
            HttpProtobuf,
            vec!["authorization"],
            NoMetrics,
        ),
    ];
    for (preset, env, endpoint, protocol, headers, metrics) in &table {
        // From the file, and from CHATOBS_OTLP_PRESET.
        let mut with_var = env.clone();
        with_var.push(("CHATOBS_OTLP_PRESET", preset.name()));
        for (file, env) in [(Some(*preset), env.clone()), (None, with_var)] {
            let (c, r) = load(file, &env);
            r.unwrap_or_else(|e| panic!("{}: {e}", preset.name()));
            assert_eq!(c.preset, Some(*preset));
            assert_eq!(&c.endpoint, endpoint, "{}", preset.name());
            assert_eq!(c.protocol, *protocol, "{}", preset.name());
            assert_eq!(&names(&c), headers, "{}", preset.name());
            assert_eq!(c.metrics_exporter, *metrics, "{}", preset.name());
            // And it passes every check (the test CA stands in for the system roots).
            let pki = support::pki();
            let mut t = OtlpTarget {
                otlp: c,
                ..support::target(*protocol, String::new())
            };
            t.otlp.certificate = support::path(&pki.ca);
            check(&t).unwrap_or_else(|e| panic!("{}: {e}", preset.name()));
        }
    }
    // The summary gives the same, names only.
    let s = Preset::Honeycomb
        .summary(&|k| (k == "HONEYCOMB_API_KEY").then(|| SECRET.to_string()))
        .unwrap();
    assert_eq!(s.headers, vec!["x-honeycomb-team".to_string()]);
    assert!(!format!("{s:?}").contains(SECRET));
}

#[test]
fn the_vendor_headers_have_the_documented_form() {
    let (c, _) = load(
        Some(Preset::Langfuse),
        &[
            ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
            ("LANGFUSE_SECRET_KEY", "sk-lf-2"),
        ],
    );
    // base64("pk-lf-1:sk-lf-2"): checked by value because these are not real secrets.
    assert_eq!(c.headers["authorization"], "Basic cGstbGYtMTpzay1sZi0y");
    assert_eq!(c.headers["x-langfuse-ingestion-version"], "4");
    let (c, _) = load(Some(Preset::Logfire), &[("LOGFIRE_TOKEN", "tok")]);
    assert_eq!(
        c.headers["authorization"], "tok",
        "the bare write token, no scheme"
    );
    let (c, _) = load(
        Some(Preset::Grafana),
        &[
            (
                "GRAFANA_CLOUD_OTLP_ENDPOINT",
                "https://otlp-gateway-prod-eu-west-0.grafana.net/otlp",
            ),
            ("GRAFANA_CLOUD_INSTANCE_ID", "123"),
            ("GRAFANA_CLOUD_API_KEY", "glc_x"),
        ],
    );
    assert_eq!(c.headers["authorization"], "Basic MTIzOmdsY194");
}

#[test]
fn missing_secrets_and_wrong_protocols_name_the_variable() {
    let (_, r) = load(Some(Preset::Logfire), &[]);
    let e = r.unwrap_err();
    assert!(e.starts_with("LOGFIRE_TOKEN: "), "{e}");
    assert!(e.contains("otlp.preset = \"logfire\""), "{e}");

    let (_, r) = load(Some(Preset::Langfuse), &[("LANGFUSE_SECRET_KEY", SECRET)]);
    let e = r.unwrap_err();
    assert!(e.starts_with("LANGFUSE_PUBLIC_KEY: "), "{e}");

    let (_, r) = load(Some(Preset::Arize), &[]);
    let e = r.unwrap_err();
    assert!(
        e.contains("ARIZE_API_KEY: ") && e.contains("ARIZE_SPACE_ID: "),
        "{e}"
    );

    let (_, r) = load(Some(Preset::Grafana), &[("GRAFANA_CLOUD_API_KEY", SECRET)]);
    let e = r.unwrap_err();
    assert!(e.contains("GRAFANA_CLOUD_INSTANCE_ID: "), "{e}");
    assert!(
        e.contains("otlp.endpoint: ") && e.contains("OpenTelemetry card"),
        "{e}"
    );

    let (_, r) = load(
        Some(Preset::Logfire),
        &[
            ("LOGFIRE_TOKEN", SECRET),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ],
    );
    let e = r.unwrap_err();
    assert!(
        e.starts_with("OTEL_EXPORTER_OTLP_PROTOCOL: ") && e.contains("http/protobuf"),
        "{e}"
    );

    let (_, r) = load(None, &[("CHATOBS_OTLP_PRESET", "datadog")]);
    let e = r.unwrap_err();
    assert!(
        e.starts_with("CHATOBS_OTLP_PRESET: ") && e.contains("logfire"),
        "{e}"
    );

    // A preset set in code without its environment is caught by `check`.
    let mut t = support::target(OtlpProtocol::HttpProtobuf, "http://127.0.0.1:4318".into());
    t.otlp.preset = Some(Preset::Honeycomb);
    let e = check(&t).unwrap_err().to_string();
    assert!(e.contains("x-honeycomb-team"), "{e}");
    t.otlp
        .apply_preset(&|k| (k == "HONEYCOMB_API_KEY").then(|| SECRET.to_string()))
        .unwrap();
    check(&t).unwrap();
}

#[test]
fn explicit_settings_win_over_the_preset() {
    // A configured endpoint (self-hosted, another region) is kept; headers
    // already given are not replaced; an explicit metrics choice stays.
    let (c, r) = load(
        Some(Preset::Langfuse),
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "https://langfuse.example.com/api/public/otel",
            ),
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Basic%20eA=="),
            ("OTEL_METRICS_EXPORTER", "otlp"),
        ],
    );
    r.unwrap();
    assert_eq!(c.endpoint, "https://langfuse.example.com/api/public/otel");
    assert_eq!(c.headers["authorization"], "Basic eA==");
    assert_eq!(c.metrics_exporter, MetricsExporter::Otlp);
    let (c, r) = load(
        Some(Preset::Honeycomb),
        &[
            ("HONEYCOMB_API_KEY", SECRET),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ],
    );
    r.unwrap();
    assert_eq!(c.protocol, OtlpProtocol::Grpc, "Honeycomb also takes gRPC");
    // Where the endpoint came from is said in errors.
    assert_eq!(c.origin("endpoint"), "otlp.preset = \"honeycomb\"");
}

#[test]
fn metrics_variables() {
    let (c, r) = load(None, &[("OTEL_METRICS_EXPORTER", "none")]);
    r.unwrap();
    assert_eq!(c.metrics_exporter, MetricsExporter::None);
    let (c, r) = load(None, &[("OTEL_METRICS_EXPORTER", "prometheus")]);
    r.unwrap();
    assert_eq!(c.metrics_exporter, MetricsExporter::None);
    let (_, r) = load(None, &[("OTEL_METRICS_EXPORTER", "console")]);
    assert!(r.unwrap_err().starts_with("OTEL_METRICS_EXPORTER: "));
    let (c, r) = load(
        None,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:6006"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://127.0.0.1:4318",
            ),
        ],
    );
    r.unwrap();
    assert_eq!(c.metrics_target().0, "http://127.0.0.1:4318");
    let (_, r) = load(
        None,
        &[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://exa mple.com")],
    );
    assert!(r
        .unwrap_err()
        .starts_with("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: "));
}

//! Configuration: shipped defaults, file overlay, environment, and errors
//! that name the file, the key and the reason.

use chatobs_runtime::config::{ExporterKind, OtlpProtocol};
use chatobs_runtime::span::{RootSampler, Sampler};
use chatobs_runtime::{Config, Error};
use std::collections::HashMap;
use std::path::Path;

fn err_text(r: Result<Config, Error>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn shipped_defaults_load() {
    let c = Config::default();
    assert_eq!(c.service.name, "chatobs-app");
    assert_eq!(c.exporter.kinds, vec![ExporterKind::Auto]);
    assert_eq!(c.resolved_exporters(), vec![ExporterKind::File]);
    assert_eq!(c.exporter.queue_size, 8192);
    assert_eq!(
        c.sampler().unwrap(),
        Sampler::ParentBased(RootSampler::AlwaysOn)
    );
    assert!(c
        .redaction
        .headers
        .iter()
        .any(|h| h == "x-hub-signature-256"));
}

#[test]
fn file_overrides_only_what_it_names() {
    let c = Config::from_toml_str(
        "[service]\nname = \"bot\"\n[exporter]\nqueue_size = 100\nbatch_size = 10\n",
        Some(Path::new("my.toml")),
    )
    .unwrap();
    assert_eq!(c.service.name, "bot");
    assert_eq!(c.exporter.queue_size, 100);
    assert_eq!(
        c.service.environment, "development",
        "untouched keys keep their defaults"
    );
    assert_eq!(c.source.as_deref(), Some(Path::new("my.toml")));
}

#[test]
fn bad_values_name_file_key_and_reason() {
    let e = err_text(Config::from_toml_str(
        "[exporter]\nqueue_size = 0\n",
        Some(Path::new("obs.toml")),
    ));
    assert_eq!(
        e,
        "obs.toml: exporter.queue_size: must be between 1 and 1048576, got 0"
    );

    let e = err_text(Config::from_toml_str(
        "[exporter]\nqueue_sise = 10\n",
        Some(Path::new("obs.toml")),
    ));
    assert!(
        e.starts_with("obs.toml: line 2: unknown field `queue_sise`"),
        "{e}"
    );
    assert!(e.contains("queue_size"), "lists the allowed keys: {e}");

    let e = err_text(Config::from_toml_str(
        "[sampling]\nsampler = \"sometimes\"\n",
        Some(Path::new("obs.toml")),
    ));
    assert!(
        e.starts_with("obs.toml: sampling.sampler: unknown sampler \"sometimes\""),
        "{e}"
    );

    let e = err_text(Config::from_toml_str(
        "[otlp]\nheaders = { authorization = \"Bearer x\" }\n",
        Some(Path::new("obs.toml")),
    ));
    assert!(
        e.contains("otlp.headers.authorization") && e.contains("OTEL_EXPORTER_OTLP_HEADERS"),
        "{e}"
    );
    assert!(!e.contains("Bearer x"), "the secret is not echoed");

    let e = err_text(Config::from_toml_str(
        "[exporter\n",
        Some(Path::new("obs.toml")),
    ));
    assert!(e.starts_with("obs.toml: line 1:"), "{e}");

    let e = Config::from_file(Path::new("/nonexistent/chatobs.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("/nonexistent/chatobs.toml: "), "{e}");
}

#[test]
fn environment_overrides() {
    let env: HashMap<&str, &str> = [
        ("OTEL_SERVICE_NAME", "gateway"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=prod,service.version=2.0.1",
        ),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Authorization=Bearer%20abc,x-tenant=shop",
        ),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
        ("CHATOBS_EXPORTER", "auto,console"),
    ]
    .into_iter()
    .collect();
    let mut c = Config::default();
    c.apply_env(|k| env.get(k).map(|v| v.to_string())).unwrap();
    assert_eq!(c.service.name, "gateway");
    assert_eq!(c.service.environment, "prod");
    assert_eq!(c.service.version, "2.0.1");
    assert_eq!(c.otlp.protocol, OtlpProtocol::HttpProtobuf);
    assert_eq!(
        c.otlp.headers.get("authorization").map(String::as_str),
        Some("Bearer abc")
    );
    assert_eq!(
        c.resolved_exporters(),
        vec![ExporterKind::Otlp, ExporterKind::Console]
    );
    assert_eq!(
        c.sampler().unwrap(),
        Sampler::ParentBased(RootSampler::TraceIdRatio(0.25))
    );

    let mut c = Config::default();
    let e = c
        .apply_env(|k| (k == "OTEL_TRACES_SAMPLER_ARG").then(|| "lots".to_string()))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "OTEL_TRACES_SAMPLER_ARG: expected a number between 0 and 1, got \"lots\""
    );
    let e = c
        .apply_env(|k| (k == "CHATOBS_EXPORTER").then(|| "file,kafka".to_string()))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("CHATOBS_EXPORTER: unknown exporter \"kafka\""),
        "{e}"
    );
}

#[test]
fn the_repository_config_file_is_valid() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/observability.toml");
    Config::from_file(&p).unwrap();
}

// `[evals]` read through the facade's `Config` (moved here from the evals crate, which no longer knows `Config`).

#[test]
fn evals_shipped_file_matches_the_defaults() {
    let cfg = Config::default();
    assert_eq!(cfg.evals, chatobs_runtime::evals::EvalsConfig::default());
    assert_eq!(cfg.evals.concurrency, 4);
}

#[test]
fn evals_file_env_and_bounds() {
    let cfg = Config::from_toml_str(
            "[evals]\nconcurrency = 8\nsample_rates = { toxicity = 0.25 }\n[evals.judge]\nmodel = \"m\"\n",
            None,
        )
        .unwrap();
    assert_eq!(cfg.evals.concurrency, 8);
    assert_eq!(cfg.evals.sample_rate_of("toxicity"), 0.25);
    assert_eq!(cfg.evals.sample_rate_of("readability"), 1.0);
    assert_eq!(cfg.evals.judge.model, "m");
    let err = Config::from_toml_str("[evals]\nconcurrency = 0\n", None).unwrap_err();
    assert!(err.to_string().contains("evals.concurrency"), "{err}");
    let err = Config::from_toml_str("[evals.readability]\nlanguage = \"fr\"\n", None).unwrap_err();
    assert!(
        err.to_string().contains("evals.readability.language"),
        "{err}"
    );
    let mut cfg = Config::default();
    cfg.apply_env(|k| match k {
        "CHATOBS_JUDGE_BASE_URL" => Some("http://127.0.0.1:9/v1".into()),
        "CHATOBS_EVALS_CONCURRENCY" => Some("2".into()),
        "CHATOBS_PHOENIX_ENDPOINT" => Some("http://127.0.0.1:6006".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(cfg.evals.judge.base_url, "http://127.0.0.1:9/v1");
    assert_eq!(cfg.evals.concurrency, 2);
    assert!(cfg.evals.phoenix.enabled);
}

/// Each crate owns its section's defaults in code; `config/observability.toml`
/// documents them and must say exactly the same.
#[test]
fn the_shipped_file_says_exactly_the_defaults_each_crate_owns() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/observability.toml");
    let mut from_file = Config::from_file(&p).unwrap();
    from_file.source = None;
    assert_eq!(from_file, Config::default());
}

#[test]
fn every_error_of_a_file_is_reported_at_once() {
    let e = err_text(Config::from_toml_str(
        "[exporter]\nqueue_size = 0\nbatch_sise = 3\n[sampling]\nsampler = \"sometimes\"\n[evals]\nconcurrency = 0\n[nonsense]\nx = 1\n",
        Some(Path::new("obs.toml")),
    ));
    for part in [
        "obs.toml: line 3: unknown field `batch_sise`",
        "obs.toml: exporter.queue_size: must be between 1 and 1048576, got 0",
        "obs.toml: sampling.sampler: unknown sampler \"sometimes\"",
        "obs.toml: evals.concurrency: must be between 1 and 256, got 0",
        "obs.toml: nonsense: unknown section `nonsense`",
    ] {
        assert!(e.contains(part), "missing {part:?} in:\n{e}");
    }
    assert!(e.starts_with("5 configuration errors:"), "{e}");
}

/// Every pair of `OTEL_RESOURCE_ATTRIBUTES` is kept (percent-decoded), so
/// `openinference.project.name` can choose a Phoenix project; a malformed
/// escape is an error naming the variable and the key, never a panic.
#[test]
fn every_resource_attribute_is_kept() {
    let mut c = Config::default();
    c.apply_env(|k| {
        (k == "OTEL_RESOURCE_ATTRIBUTES").then(|| {
            "service.version=2.1,openinference.project.name=chat%20commerce,service.namespace=bots".into()
        })
    })
    .unwrap();
    assert_eq!(c.service.version, "2.1");
    assert_eq!(
        c.service
            .attributes
            .get("openinference.project.name")
            .map(String::as_str),
        Some("chat commerce")
    );
    assert_eq!(
        c.service
            .attributes
            .get("service.namespace")
            .map(String::as_str),
        Some("bots")
    );
    let mut c = Config::default();
    let e = c
        .apply_env(|k| (k == "OTEL_RESOURCE_ATTRIBUTES").then(|| "x-a=%1é".into()))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("OTEL_RESOURCE_ATTRIBUTES: "), "{e}");
    assert!(
        e.contains("\"x-a\"") && e.contains("percent-encoded"),
        "{e}"
    );
}

/// A malformed percent escape in `OTEL_EXPORTER_OTLP_HEADERS` (it used to
/// panic in the decoder) is an error that names the header, not its value.
#[test]
fn a_bad_header_encoding_is_an_error_without_the_value() {
    let mut c = Config::default();
    let e = c
        .apply_env(|k| {
            (k == "OTEL_EXPORTER_OTLP_HEADERS")
                .then(|| "x-a=%1é,authorization=Bearer%20s3cr3t%zz".into())
        })
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"x-a\"") && e.contains("\"authorization\""),
        "{e}"
    );
    assert!(!e.contains("s3cr3t") && !e.contains("Bearer"), "{e}");
}

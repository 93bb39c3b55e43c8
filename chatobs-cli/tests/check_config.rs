//! `chatobs check-config` and `init` accept and reject the same
//! configurations with the same message: a corpus of broken configurations
//! (wrong types, bad URLs and encodings, missing or malformed price and rate
//! files, unwritable paths, out-of-range numbers, secrets in a file), each
//! run through the built binary and through `init` in this process.

use std::path::Path;
use std::process::Command;

/// `chatobs check-config --config FILE` with `env` added: exit code and stderr.
fn check_config(file: &Path, env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chatobs"))
        .args(["check-config", "--config"])
        .arg(file)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What `init` says about the same file and environment, in this process
/// (the variables are set for the call: `init` reads the session key and
/// `RUST_LOG` itself; this file has one test, so nothing runs beside it).
fn init_error(file: &Path, env: &[(&str, &str)]) -> Option<String> {
    for (k, v) in env {
        std::env::set_var(k, v);
    }
    let r = chatobs_runtime::Config::from_file(file).and_then(|mut c| {
        c.apply_env(|k| std::env::var(k).ok())?;
        chatobs_runtime::init(c)
    });
    for (k, _) in env {
        std::env::remove_var(k);
    }
    match r {
        Ok(guard) => {
            drop(guard);
            None
        }
        Err(e) => Some(e.to_string()),
    }
}

struct Case {
    name: &'static str,
    toml: String,
    env: Vec<(&'static str, &'static str)>,
    /// A part of the message that says what was wrong and where.
    says: &'static str,
    /// What the message must never show (a secret, a personal value).
    never: Option<&'static str>,
}

fn case(name: &'static str, toml: &str, says: &'static str) -> Case {
    Case {
        name,
        toml: toml.to_owned(),
        env: Vec::new(),
        says,
        never: None,
    }
}

#[test]
fn check_config_and_init_reject_the_same_configurations_with_the_same_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad_prices = dir.path().join("prices.toml");
    std::fs::write(&bad_prices, "[[model]]\nname = 3\n").unwrap();
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let spans_in_file = not_a_dir.join("spans.jsonl");
    let logs_in_file = not_a_dir.join("chatobs.log");
    let q = |p: &Path| p.display().to_string().replace('\\', "\\\\");
    let mut cases = vec![
        case(
            "wrong type",
            "[exporter]\nqueue_size = \"big\"\n",
            "queue_size",
        ),
        case(
            "out of range",
            "[exporter]\nqueue_size = 0\n",
            "exporter.queue_size: must be between 1 and 1048576, got 0",
        ),
        case(
            "byte budget out of range",
            "[exporter]\nmax_queue_bytes = 10\n",
            "exporter.max_queue_bytes",
        ),
        case(
            "unknown key",
            "[exporter]\nqueue_sise = 1\n",
            "unknown field `queue_sise`",
        ),
        case(
            "unknown section",
            "[nonsense]\nx = 1\n",
            "unknown section `nonsense`",
        ),
        case("syntax", "[exporter\n", "line 1"),
        case(
            "sampler",
            "[sampling]\nsampler = \"sometimes\"\n",
            "sampling.sampler",
        ),
        case(
            "ratio",
            "[sampling]\nsampler = \"traceidratio\"\nratio = 7.0\n",
            "sampling.ratio must be between 0 and 1",
        ),
        case(
            "exporter kind",
            "[exporter]\nkinds = [\"carrier-pigeon\"]\n",
            "kinds",
        ),
        case("log level", "[logs]\nlevel = \"info,=[\"\n", "logs.level"),
        case("log format", "[logs]\nformat = \"xml\"\n", "format"),
        case(
            "log output under a file",
            &format!("[logs]\noutput = \"{}\"\n", q(&logs_in_file)),
            "logs.output",
        ),
        case(
            "span file under a file",
            &format!(
                "[exporter]\nkinds = [\"file\"]\nfile_path = \"{}\"\n",
                q(&spans_in_file)
            ),
            "exporter.file_path",
        ),
        case(
            "missing price file",
            "[cost]\nllm_price_files = [\"/nonexistent/prices.toml\"]\n",
            "/nonexistent/prices.toml",
        ),
        case(
            "malformed price file",
            &format!("[cost]\nllm_price_files = [\"{}\"]\n", q(&bad_prices)),
            "prices.toml",
        ),
        case(
            "missing rate file",
            "[cost]\nwhatsapp_rate_files = [\"/nonexistent/rates.toml\"]\n",
            "/nonexistent/rates.toml",
        ),
        case(
            "state bounds",
            "[cost]\nstate_ttl_hours = 1\n",
            "cost.state_ttl_hours",
        ),
        case(
            "otlp endpoint scheme",
            "[otlp]\nendpoint = \"ftp://collector\"\n",
            "otlp.endpoint",
        ),
        case(
            "judge url",
            "[evals.judge]\nbase_url = \"localhost:11434\"\n",
            "evals.judge.base_url",
        ),
        case(
            "evals bounds",
            "[evals]\nconcurrency = 0\n",
            "evals.concurrency",
        ),
        case(
            "alert rule",
            "[alerts.rules.x]\nquantity = \"llm_call_cost_usd\"\nbelow = 1\n",
            "alerts.rules.x",
        ),
        case(
            "metrics buckets",
            "[metrics]\ncall_cost_buckets = [0.5, 0.1]\n",
            "metrics.call_cost_buckets",
        ),
        case(
            "slo",
            "[slo]\nturn_success_objective = 2.0\n",
            "slo.turn_success_objective",
        ),
        case(
            "health",
            "[health]\nqueue_saturation = 0.0\n",
            "health.queue_saturation",
        ),
    ];
    cases.push(Case {
        never: Some("s3cr3t"),
        ..case(
            "secret header in a file",
            "[otlp]\nheaders = { authorization = \"Bearer s3cr3t\" }\n",
            "otlp.headers.authorization",
        )
    });
    cases.push(Case {
        never: Some("s3cr3t"),
        ..case(
            "secret of the wrong type",
            "[otlp]\nheaders = \"Bearer s3cr3t\"\n",
            "otlp",
        )
    });
    cases.push(Case {
        never: Some("s3cr3t"),
        ..case(
            "token in a URL query",
            "[alerts.webhook]\nurl = \"https://hooks.example.com/alert?token=s3cr3t\"\n",
            "alerts.webhook.url",
        )
    });
    cases.push(Case {
        never: Some("s3cr3t"),
        ..case(
            "password in a URL",
            "[evals.phoenix]\nendpoint = \"https://user:s3cr3t@phoenix.example.com\"\n",
            "evals.phoenix.endpoint",
        )
    });
    cases.push(Case {
        env: vec![(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-a=%1é,authorization=Bearer%20s3cr3t%zz",
        )],
        never: Some("s3cr3t"),
        ..case("header encoding", "", "OTEL_EXPORTER_OTLP_HEADERS")
    });
    cases.push(Case {
        env: vec![("OTEL_EXPORTER_OTLP_ENDPOINT", "http://exa mple.com")],
        ..case("endpoint variable", "", "OTEL_EXPORTER_OTLP_ENDPOINT")
    });
    cases.push(Case {
        env: vec![("CHATOBS_OTLP_PRESET", "logfire")],
        ..case("preset without its token", "", "LOGFIRE_TOKEN")
    });
    cases.push(Case {
        env: vec![("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")],
        ..case("protocol", "", "OTEL_EXPORTER_OTLP_PROTOCOL")
    });
    cases.push(Case {
        env: vec![("OTEL_RESOURCE_ATTRIBUTES", "a=%zz")],
        ..case(
            "resource attribute encoding",
            "",
            "OTEL_RESOURCE_ATTRIBUTES",
        )
    });
    cases.push(Case {
        env: vec![("CHATOBS_SESSION_KEY", "short")],
        never: Some("short"),
        ..case(
            "session key",
            "",
            "CHATOBS_SESSION_KEY: the session key has 5 bytes",
        )
    });
    cases.push(Case {
        env: vec![("RUST_LOG", "info,=[")],
        ..case("RUST_LOG", "", "RUST_LOG")
    });

    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let file = dir.path().join(format!("case{i}.toml"));
        std::fs::write(&file, &c.toml).unwrap();
        let (code, out, err) = check_config(&file, &c.env);
        let from_init = init_error(&file, &c.env);
        let cli = err
            .strip_prefix("chatobs: ")
            .unwrap_or(&err)
            .trim_end()
            .to_owned();
        let ok = code == 2
            && out.is_empty()
            && from_init.as_deref() == Some(cli.as_str())
            && cli.contains(c.says)
            && c.never.is_none_or(|n| !cli.contains(n));
        if !ok {
            failures.push(format!(
                "{}: check-config exit {code}, stderr {err:?}, stdout {out:?}; init: {from_init:?}; expected to contain {:?}",
                c.name, c.says
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // And a good configuration passes check-config without creating anything.
    let file = dir.path().join("ok.toml");
    let spans = dir.path().join("spans.jsonl");
    std::fs::write(
        &file,
        format!(
            "[exporter]\nkinds = [\"file\"]\nfile_path = \"{}\"\n[logs]\nformat = \"off\"\n",
            spans.display()
        ),
    )
    .unwrap();
    let (code, out, err) = check_config(&file, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ok: "), "{out}");
    assert!(!spans.exists(), "check-config created nothing");
}

//! `init`: the one place where chatobs' parts are wired together.
//!
//! Each part owns its configuration and exposes hooks; only this module
//! knows them all. In order, `init`:
//! 1. sets the session key (from the variable `[session] key_env` names) and the redaction lists;
//! 2. loads the price tables and rate cards (`[cost]`);
//! 3. connects the hooks, once per process: evaluation results go to the
//!    metrics *and* to the alert engine (score alerts fire with metrics on
//!    or off), alert counters become metrics, metrics are mirrored over OTLP;
//! 4. starts metrics (`[metrics]`) and the alert engine (`[alerts]`);
//! 5. builds the exporters (`[exporter]`, `[otlp]`) and starts the span pipeline;
//! 6. applies `[tracing]` to the `tracing` bridge and installs the global
//!    subscriber (JSON logs per `[logs]`, the bridge per `[tracing]`) unless
//!    the application has its own.
//!
//! Dropping the returned guard flushes the spans, then stops alerts, flushes
//! the logs and pushes the last metrics.

use crate::config::{Config, ExporterKind, LogFormat};
use crate::Error;
use chatobs_core::export::SpanExporter;
use chatobs_core::pipeline::{self, ExporterFactory, Guard};
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(feature = "otlp")]
use std::time::Duration;
use std::time::Instant;

/// Installs chatobs with `config`: the embedded default writes spans to
/// `exporter.file_path` and JSON logs to standard error.
///
/// ```no_run
/// let _guard = chatobs_runtime::init(chatobs_runtime::Config::load()?)?;
/// # Ok::<(), chatobs_runtime::Error>(())
/// ```
pub fn init(config: Config) -> Result<Guard, Error> {
    init_with_exporters(config, Vec::new())
}

/// [`init`] plus exporters of your own.
pub fn init_with_exporters(
    config: Config,
    extra: Vec<Box<dyn SpanExporter>>,
) -> Result<Guard, Error> {
    if pipeline::snapshot().is_some() {
        return Err(Error::AlreadyInitialized);
    }
    // Everything that can be wrong is found here, before anything starts.
    crate::check(&config)?;
    if let Ok(k) = std::env::var(&config.session.key_env) {
        if !k.is_empty() {
            chatobs_core::context::set_session_key(k.as_bytes())?;
        }
    }
    chatobs_core::redact::configure(&config.redaction);
    // The `tracing` bridge follows `[tracing]` whoever installed the subscriber.
    chatobs_core::bridge::configure(&config.tracing)?;
    #[cfg(feature = "cost")]
    chatobs_cost::configure(&config.cost)?;
    #[cfg(feature = "state")]
    crate::state::start(&config.state)?;
    connect_hooks();
    #[cfg(feature = "audit")]
    crate::audit::open(&config.audit)?;
    #[cfg(feature = "metrics")]
    crate::metrics::install(&config)?;
    #[cfg(feature = "alerts")]
    if config.alerts.enabled {
        chatobs_alerts::install(chatobs_alerts::AlertEngine::from_config(
            &config.alerts,
            &config.service.name,
        )?);
    }

    let kinds = config.resolved_exporters();
    #[cfg(feature = "evals")]
    let phoenix = phoenix_config(&config, &kinds);
    let (mut factories, memory) =
        pipeline::local_exporters(&kinds, &config.exporter, &config.service.name)?;
    if kinds.contains(&ExporterKind::Otlp) {
        let otlp = otlp_factory(&config)?;
        // Spans to Phoenix: chatobs' prices registered there first.
        #[cfg(all(feature = "evals", feature = "otlp"))]
        let otlp = match &phoenix {
            Some(p) if p.register_prices && exports_to_phoenix(&config, p) => {
                phoenix_prices(otlp, p.clone())
            }
            _ => otlp,
        };
        factories.push(otlp);
    }
    factories.extend(extra.into_iter().map(pipeline::ready));
    let mut guard = pipeline::start(&config.exporter, &config.sampling, factories, memory)?;

    // Evaluations and feedback as Phoenix span annotations whenever Phoenix
    // is configured: pipelines and recorders built from now on send there.
    #[cfg(feature = "evals")]
    if let Some(p) = &phoenix {
        chatobs_evals::phoenix::install(Some(chatobs_evals::PhoenixAnnotations::start(p)?));
        let wait = std::time::Duration::from_millis(p.timeout_ms);
        guard.on_shutdown(move |_| {
            if let Some(p) = chatobs_evals::phoenix::install(None) {
                p.shutdown(wait);
            }
        });
    }

    // The conversation lifecycle: conversations close after `[session]
    // close_after_seconds` (a sweeper thread), and, with the state in this
    // process only, at shutdown (their totals would go with the process).
    #[cfg(feature = "cost")]
    {
        chatobs_cost::conversation::configure(chatobs_cost::conversation::Lifecycle {
            close_after: std::time::Duration::from_secs(config.session.close_after_seconds),
            sweep_every: std::time::Duration::from_secs(config.session.sweep_every_seconds),
            max_open: config.session.max_open,
        });
        let sweeper = chatobs_cost::conversation::Sweeper::start().map_err(|e| {
            Error::InvalidInput(format!("cannot start the conversation sweeper thread: {e}"))
        })?;
        guard.before_shutdown(move || {
            drop(sweeper);
            if chatobs_cost::shared::shared().is_none() {
                chatobs_cost::conversation::close_all_local(
                    chatobs_cost::conversation::reason::SHUTDOWN,
                );
            }
        });
    }

    // One deadline (`exporter.shutdown_timeout_ms`) for spans, alerts, logs and metrics.
    #[cfg(feature = "alerts")]
    guard.on_shutdown(|_| {
        chatobs_alerts::uninstall();
    });
    // The JSON log lines over OTLP too (`[otlp] logs_exporter`), fed by the
    // log writer thread after it writes each line.
    #[cfg(feature = "otlp")]
    let otlp_logs = otlp_log_sink(&config, &kinds)?;
    guard.on_shutdown(move |deadline| {
        chatobs_core::logs::flush(deadline.saturating_duration_since(Instant::now()));
        #[cfg(feature = "otlp")]
        if otlp_logs {
            chatobs_core::logs::set_line_sink(None);
        }
    });
    #[cfg(feature = "metrics")]
    guard.on_shutdown(|deadline| {
        // The OTLP metrics push may wait on a slow collector: it gets what is
        // left of the deadline, on a thread of its own, and is abandoned after.
        let (tx, rx) = std::sync::mpsc::channel();
        let pushed = std::thread::Builder::new()
            .name("chatobs-metrics-shutdown".into())
            .spawn(move || {
                crate::metrics::shutdown();
                let _ = tx.send(());
            });
        if pushed.is_ok() {
            let _ = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        }
    });

    static LOG_INSTALLED: AtomicBool = AtomicBool::new(false);
    let wanted =
        config.logs.format == LogFormat::Json || !chatobs_core::bridge::is_off(&config.tracing);
    if wanted && !LOG_INSTALLED.swap(true, Ordering::AcqRel) {
        // `Ok(false)`: the application installed its own subscriber, which
        // stays (add `chatobs_runtime::logs::layer()` for JSON logs with chat
        // context and `chatobs_runtime::tracing_layer()` for its spans). A bad
        // level or output is an error, never silence.
        if let Err(e) = chatobs_core::logs::install_global(&config.logs, &config.tracing) {
            LOG_INSTALLED.store(false, Ordering::Release);
            return Err(e);
        }
    }
    Ok(guard)
}

#[cfg(feature = "otlp")]
fn otlp_factory(config: &Config) -> Result<ExporterFactory, Error> {
    let target = otlp_target(config);
    Ok(Box::new(move || {
        chatobs_otlp::OtlpExporter::new(&target).map(|e| Box::new(e) as Box<dyn SpanExporter>)
    }))
}

/// Installs the OTLP log sink when OTLP export is on, `[otlp] logs_exporter`
/// is `otlp` and the JSON log lines are written; returns whether it did.
#[cfg(feature = "otlp")]
fn otlp_log_sink(config: &Config, kinds: &[ExporterKind]) -> Result<bool, Error> {
    let wanted = kinds.contains(&ExporterKind::Otlp)
        && config.otlp.logs_exporter == chatobs_otlp::LogsExporter::Otlp
        && config.logs.format == LogFormat::Json;
    if !wanted {
        return Ok(false);
    }
    let sink = chatobs_otlp::logs::OtlpLogSink::new(&otlp_target(config))?;
    chatobs_core::logs::set_line_sink(Some(std::sync::Arc::new(sink)));
    Ok(true)
}

#[cfg(not(feature = "otlp"))]
fn otlp_factory(_: &Config) -> Result<ExporterFactory, Error> {
    Err(Error::Exporter {
        exporter: "otlp",
        reason: "chatobs-runtime was built without the `otlp` feature".into(),
    })
}

/// Phoenix, when configured: `[evals.phoenix] enabled` (or
/// `CHATOBS_PHOENIX_ENDPOINT`), or spans exported with `[otlp] preset =
/// "phoenix"` (then at the preset's endpoint, with `[evals.phoenix]`'s other settings).
#[cfg(feature = "evals")]
fn phoenix_config(
    config: &Config,
    #[allow(unused_variables)] kinds: &[ExporterKind],
) -> Option<chatobs_evals::PhoenixConfig> {
    if config.evals.phoenix.enabled {
        return Some(config.evals.phoenix.clone());
    }
    #[cfg(feature = "otlp")]
    if kinds.contains(&ExporterKind::Otlp)
        && config.otlp.preset == Some(chatobs_otlp::presets::Preset::Phoenix)
    {
        let base = config.otlp.endpoint.trim().trim_end_matches('/');
        return Some(chatobs_evals::PhoenixConfig {
            enabled: true,
            endpoint: base.trim_end_matches("/v1/traces").to_owned(),
            ..config.evals.phoenix.clone()
        });
    }
    None
}

/// Whether the OTLP spans go to the Phoenix of `p` (the preset, or an
/// endpoint under Phoenix's base URL).
#[cfg(all(feature = "evals", feature = "otlp"))]
fn exports_to_phoenix(config: &Config, p: &chatobs_evals::PhoenixConfig) -> bool {
    config.otlp.preset == Some(chatobs_otlp::presets::Preset::Phoenix)
        || config
            .otlp
            .endpoint
            .trim()
            .trim_end_matches('/')
            .starts_with(p.endpoint.trim_end_matches('/'))
}

/// The OTLP exporter, registering chatobs' prices in Phoenix before the
/// spans that need them (see `chatobs_evals::phoenix_prices`).
#[cfg(all(feature = "evals", feature = "otlp"))]
fn phoenix_prices(otlp: ExporterFactory, p: chatobs_evals::PhoenixConfig) -> ExporterFactory {
    Box::new(move || {
        let inner = otlp()?;
        let prices = chatobs_evals::phoenix_prices::PhoenixPrices::new(&p)?;
        Ok(
            Box::new(chatobs_evals::phoenix_prices::WithPhoenixPrices::new(
                inner, prices,
            )) as Box<dyn SpanExporter>,
        )
    })
}

/// What the OTLP exporters need of `config`.
#[cfg(feature = "otlp")]
pub(crate) fn otlp_target(config: &Config) -> chatobs_otlp::OtlpTarget {
    chatobs_otlp::OtlpTarget {
        otlp: config.otlp.clone(),
        service: config.service.clone(),
        export_timeout: Duration::from_millis(config.exporter.export_timeout_ms),
    }
}

/// Connects the parts' hooks (once per process; later calls do nothing).
pub(crate) fn connect_hooks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(feature = "evals")]
        chatobs_evals::pipeline::on_every_result(std::sync::Arc::new(eval_result));
        #[cfg(all(feature = "metrics", feature = "alerts"))]
        chatobs_metrics::add_source(Box::new(alert_counters));
        #[cfg(all(feature = "metrics", feature = "otlp"))]
        chatobs_metrics::set_mirror(&chatobs_otlp::metrics::OtlpMirror);
        #[cfg(feature = "cost")]
        chatobs_core::bridge::on_genai_close(price_bridged_genai_span);
        #[cfg(feature = "metrics")]
        chatobs_metrics::add_source(Box::new(|m: &chatobs_metrics::Metrics| {
            let set = |what: &str, n: u64| {
                if let Some(c) = m.telemetry_dropped.scalar(&[what]) {
                    c.set(n);
                }
            };
            set("custom_attributes", crate::attrs::dropped());
            #[cfg(feature = "otlp")]
            set("otlp_log_records", chatobs_otlp::logs::totals().1);
        }));
    });
}

/// A `tracing` span from another crate that carries the OpenTelemetry GenAI
/// usage fields (rig's `chat`, any SDK following the conventions) is priced
/// like chatobs' own LLM spans when it ends: cost attributes, the
/// conversation's total, cost metrics and budget alerts. Runs with that span
/// as the current one (`chatobs_core::bridge::on_genai_close`). A span that
/// already carries a price (or says it has none) is left alone.
#[cfg(feature = "cost")]
fn price_bridged_genai_span() {
    use chatobs_vocab as v;
    let call = chatobs_core::current::with(|s| {
        if s.has_attr(v::GEN_AI_USAGE_PRICE_USD) || s.has_attr(v::GEN_AI_USAGE_PRICE_UNKNOWN) {
            return None;
        }
        // The SDK sent the call through chatobs' HTTP instrumentation, which
        // priced it on its own span (a child of this one): once is enough.
        if chatobs_cost::priced::take_priced_under(s.ids().1) {
            s.set_attr(v::GEN_AI_USAGE_PRICED_BY_CHILD, true);
            return None;
        }
        let n = |keys: &[&str]| {
            keys.iter().find_map(|k| {
                let x = s.attr(k)?;
                x.as_i64()
                    .or_else(|| x.as_str().and_then(|t| t.trim().parse().ok()))
                    .map(|i| i.max(0) as u64)
            })
        };
        let text = |k: &str| {
            s.attr(k)
                .and_then(|x| x.as_str())
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        let input = n(&[v::GEN_AI_USAGE_INPUT_TOKENS]);
        let output = n(&[v::GEN_AI_USAGE_OUTPUT_TOKENS]);
        if input.is_none() && output.is_none() {
            return None;
        }
        // The model asked for prices the call (the table knows aliases and
        // dated snapshots); the answering model is kept as its own attribute.
        let model = text(v::GEN_AI_REQUEST_MODEL).or_else(|| text(v::GEN_AI_RESPONSE_MODEL))?;
        let mut call = chatobs_cost::LlmCall::new(model)
            .input_tokens(input.unwrap_or(0))
            .output_tokens(output.unwrap_or(0));
        if let Some(p) = text(v::GEN_AI_PROVIDER_NAME).or_else(|| text("gen_ai.system")) {
            call = call.provider(p);
        }
        if let Some(op) = text(v::GEN_AI_OPERATION_NAME) {
            call = call.operation(op);
        }
        if let Some(m) = text(v::GEN_AI_RESPONSE_MODEL) {
            call = call.response_model(m);
        }
        if let Some(c) = n(&[
            v::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
            "gen_ai.usage.cached_tokens",
        ]) {
            call = call.cached_tokens(c);
        }
        if let Some(c) = n(&[v::GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS]) {
            call = call.cache_write_tokens(c);
        }
        if let Some(r) = n(&[
            v::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
            "gen_ai.usage.reasoning_tokens",
        ]) {
            call = call.reasoning_tokens(r);
        }
        Some(call)
    })
    .flatten();
    if let Some(call) = call {
        if let Err(e) = chatobs_cost::record_llm_call(&call) {
            tracing::debug!(target: "chatobs", error = %e, "chatobs: a bridged GenAI span could not be priced");
        }
    }
}

/// Each evaluation result: the score histogram or failure counter (when
/// metrics are on) and the `eval_score` alert rules (whether or not metrics are on).
#[cfg(feature = "evals")]
pub(crate) fn eval_result(r: &chatobs_evals::EvalRecord) {
    let score = match &r.result {
        Ok(res) => Ok(res.score),
        Err(_) => Err(()),
    };
    #[cfg(feature = "metrics")]
    chatobs_metrics::observe_eval(&r.evaluator, score);
    #[cfg(feature = "alerts")]
    if let Ok(Some(s)) = score {
        chatobs_alerts::observe_score(&r.evaluator, s, &r.target);
    }
    #[cfg(not(any(feature = "metrics", feature = "alerts")))]
    let _ = score;
}

/// Copies the alert engine's counters into their metric families.
#[cfg(all(feature = "metrics", feature = "alerts"))]
fn alert_counters(m: &chatobs_metrics::Metrics) {
    let Some(e) = chatobs_alerts::current() else {
        return;
    };
    for r in e.rule_stats() {
        if let Some(c) = m.alerts_fired.scalar(&[&r.rule, &r.severity]) {
            c.set(r.fired);
        }
        if r.per_conversation {
            if let Some(c) = m.over_budget.scalar(&[&r.rule]) {
                c.set(r.fired);
            }
        }
    }
    for (sink, st) in e.sink_stats() {
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        for (f, n) in [
            (&m.alert_deliveries, get(&st.delivered)),
            (&m.alert_failures, get(&st.failed)),
            (&m.alerts_dropped, get(&st.dropped)),
        ] {
            if let Some(c) = f.scalar(&[sink]) {
                c.set(n);
            }
        }
    }
}

/// `(rule, fired)` of the installed alert engine, for the OTLP metrics mirror.
#[cfg(all(feature = "otlp", feature = "metrics", feature = "alerts"))]
pub(crate) fn alerts_fired() -> Vec<(String, u64)> {
    chatobs_alerts::current()
        .map(|e| {
            e.rule_stats()
                .into_iter()
                .map(|r| (r.rule, r.fired))
                .collect()
        })
        .unwrap_or_default()
}

//! `[evals]` in `config/observability.toml`.
//!
//! Environment overrides (applied by [`Section::apply_env`]):
//! `CHATOBS_JUDGE_BASE_URL`, `CHATOBS_JUDGE_MODEL`, `CHATOBS_EVALS_CONCURRENCY`,
//! `CHATOBS_PHOENIX_ENDPOINT` (turns the Phoenix export on). Secrets come
//! only from the environment: the judge's API key from the variable named by
//! `evals.judge.api_key_env` (default `CHATOBS_JUDGE_API_KEY`), Phoenix's
//! from `evals.phoenix.api_key_env` (default `PHOENIX_API_KEY`).

use chatobs_core::config::{Env, Errors, Section};
use chatobs_core::Error;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `[evals]`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EvalsConfig {
    /// Evaluations running at once (worker pool size).
    pub concurrency: usize,
    /// Evaluations waiting; when full, new ones are dropped and counted.
    pub queue_size: usize,
    /// Fraction of submissions evaluated, for evaluators not in `sample_rates`.
    pub sample_rate: f64,
    /// Fraction per evaluator name (`qa_correctness = 0.1`).
    pub sample_rates: BTreeMap<String, f64>,
    /// How long shutdown waits for queued evaluations.
    pub shutdown_timeout_ms: u64,
    /// The LLM judge.
    pub judge: JudgeConfig,
    /// Readability.
    pub readability: ReadabilityConfig,
    /// Phoenix span annotations.
    pub phoenix: PhoenixConfig,
    /// Operator and user feedback.
    pub feedback: FeedbackConfig,
}

impl Default for EvalsConfig {
    fn default() -> Self {
        EvalsConfig {
            concurrency: 4,
            queue_size: 1024,
            sample_rate: 1.0,
            sample_rates: BTreeMap::new(),
            shutdown_timeout_ms: 5000,
            judge: JudgeConfig::default(),
            readability: ReadabilityConfig::default(),
            phoenix: PhoenixConfig::default(),
            feedback: FeedbackConfig::default(),
        }
    }
}

/// `[evals.judge]`: an OpenAI-compatible chat-completions API.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JudgeConfig {
    /// Base URL up to `/v1` (the client posts to `{base_url}/chat/completions`).
    /// Empty: the judge evaluators are not configured.
    pub base_url: String,
    /// Model name.
    pub model: String,
    /// `gen_ai.provider.name` of the judge (`openai`, `gcp.gemini`, ...), used for pricing.
    pub provider: String,
    /// Name of the environment variable holding the API key (sent as a bearer token).
    pub api_key_env: String,
    /// One attempt's time limit.
    pub timeout_ms: u64,
    /// Retries after a 429, a 5xx, a timeout or a connection error.
    pub max_retries: u32,
    /// First backoff; doubles per retry, with jitter.
    pub backoff_ms: u64,
    /// Longest backoff (also caps `Retry-After`).
    pub backoff_max_ms: u64,
    /// `max_tokens` of the request.
    pub max_tokens: u32,
    /// Longest explanation kept (characters); longer ones are truncated.
    pub explanation_max_chars: usize,
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig {
            base_url: String::new(),
            model: String::new(),
            provider: "openai".into(),
            api_key_env: "CHATOBS_JUDGE_API_KEY".into(),
            timeout_ms: 30_000,
            max_retries: 2,
            backoff_ms: 500,
            backoff_max_ms: 8_000,
            max_tokens: 256,
            explanation_max_chars: 1000,
        }
    }
}

/// `[evals.readability]`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReadabilityConfig {
    /// `auto` (detect per text), `en` or `es`.
    pub language: String,
}

impl Default for ReadabilityConfig {
    fn default() -> Self {
        ReadabilityConfig {
            language: "auto".into(),
        }
    }
}

impl ReadabilityConfig {
    /// The configured language (`None`: detect).
    pub fn lang(&self) -> Option<super::Lang> {
        super::Lang::parse(&self.language)
    }
}

/// `[evals.phoenix]`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PhoenixConfig {
    /// Send results and feedback as span annotations.
    pub enabled: bool,
    /// Phoenix's base URL (`http://127.0.0.1:6006`).
    pub endpoint: String,
    /// Name of the environment variable holding Phoenix's API key, if it needs one.
    pub api_key_env: String,
    /// Annotations waiting; when full, new ones are dropped and counted.
    pub queue_size: usize,
    /// Annotations per request.
    pub batch_size: usize,
    /// Send at least this often.
    pub flush_interval_ms: u64,
    /// One request's time limit.
    pub timeout_ms: u64,
    /// When spans are exported to this Phoenix, register chatobs' price of
    /// each LLM model there first, so Phoenix's cost equals chatobs' (see
    /// [`crate::phoenix_prices`]).
    pub register_prices: bool,
}

impl Default for PhoenixConfig {
    fn default() -> Self {
        PhoenixConfig {
            enabled: false,
            endpoint: "http://127.0.0.1:6006".into(),
            api_key_env: "PHOENIX_API_KEY".into(),
            queue_size: 4096,
            batch_size: 100,
            flush_interval_ms: 1000,
            timeout_ms: 5000,
            register_prices: true,
        }
    }
}

/// `[evals.feedback]`.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FeedbackConfig {
    /// WhatsApp message ids remembered (wamid -> the span that sent it); oldest dropped first.
    pub wamid_capacity: usize,
    /// A wamid older than this is forgotten (reactions usually come within days).
    pub wamid_ttl_hours: u64,
}

impl Default for FeedbackConfig {
    fn default() -> Self {
        FeedbackConfig {
            wamid_capacity: 100_000,
            wamid_ttl_hours: 168,
        }
    }
}

fn bad(key: &str, reason: String) -> Result<(), Error> {
    Err(Error::config(None, key, reason))
}

impl EvalsConfig {
    /// Checks the bounds (the key in the error is `evals.*`).
    pub fn validate(&self) -> Result<(), Error> {
        if !(1..=256).contains(&self.concurrency) {
            return bad(
                "evals.concurrency",
                format!("must be between 1 and 256, got {}", self.concurrency),
            );
        }
        if !(1..=1 << 20).contains(&self.queue_size) {
            return bad(
                "evals.queue_size",
                format!("must be between 1 and 1048576, got {}", self.queue_size),
            );
        }
        let rate_ok = |r: f64| (0.0..=1.0).contains(&r);
        if !rate_ok(self.sample_rate) {
            return bad(
                "evals.sample_rate",
                format!("must be between 0 and 1, got {}", self.sample_rate),
            );
        }
        for (k, r) in &self.sample_rates {
            if !rate_ok(*r) {
                return bad(
                    &format!("evals.sample_rates.{k}"),
                    format!("must be between 0 and 1, got {r}"),
                );
            }
        }
        let j = &self.judge;
        let is_url = |u: &str| u.starts_with("http://") || u.starts_with("https://");
        if !(j.base_url.is_empty() || is_url(&j.base_url)) {
            return bad(
                "evals.judge.base_url",
                format!("expected an http:// or https:// URL, got {:?}", j.base_url),
            );
        }
        if j.timeout_ms == 0 {
            return bad("evals.judge.timeout_ms", "must be at least 1".into());
        }
        if j.max_retries > 10 {
            return bad(
                "evals.judge.max_retries",
                format!("must be at most 10, got {}", j.max_retries),
            );
        }
        if j.max_tokens == 0 {
            return bad("evals.judge.max_tokens", "must be at least 1".into());
        }
        let lang = self.readability.language.trim();
        if lang != "auto" && super::Lang::parse(lang).is_none() {
            return bad(
                "evals.readability.language",
                format!("expected auto, en or es, got {lang:?}"),
            );
        }
        let p = &self.phoenix;
        if p.enabled && !is_url(&p.endpoint) {
            return bad(
                "evals.phoenix.endpoint",
                format!("expected an http:// or https:// URL, got {:?}", p.endpoint),
            );
        }
        if p.queue_size == 0 || p.batch_size == 0 || p.timeout_ms == 0 || p.flush_interval_ms == 0 {
            return bad(
                "evals.phoenix",
                "queue_size, batch_size, timeout_ms and flush_interval_ms must be at least 1"
                    .into(),
            );
        }
        if self.feedback.wamid_capacity == 0 {
            return bad("evals.feedback.wamid_capacity", "must be at least 1".into());
        }
        Ok(())
    }

    /// Applies the environment overrides listed in the module docs.
    pub fn apply_env(&mut self, get: &impl Fn(&str) -> Option<String>) -> Result<(), Error> {
        let set = |k: &str| get(k).filter(|s| !s.trim().is_empty());
        if let Some(v) = set("CHATOBS_JUDGE_BASE_URL") {
            self.judge.base_url = v.trim().to_owned();
        }
        if let Some(v) = set("CHATOBS_JUDGE_MODEL") {
            self.judge.model = v.trim().to_owned();
        }
        if let Some(v) = set("CHATOBS_EVALS_CONCURRENCY") {
            self.concurrency = v.trim().parse().map_err(|_| {
                Error::config(
                    None,
                    "CHATOBS_EVALS_CONCURRENCY",
                    format!("expected a number between 1 and 256, got {v:?}"),
                )
            })?;
        }
        if let Some(v) = set("CHATOBS_PHOENIX_ENDPOINT") {
            self.phoenix.endpoint = v.trim().to_owned();
            self.phoenix.enabled = true;
        }
        Ok(())
    }

    /// The sampling rate of `evaluator`.
    pub fn sample_rate_of(&self, evaluator: &str) -> f64 {
        self.sample_rates
            .get(evaluator)
            .copied()
            .unwrap_or(self.sample_rate)
    }
}

impl Section for EvalsConfig {
    const KEY: &'static str = "evals";

    fn apply_env(&mut self, env: Env<'_>, errs: &mut Errors) {
        errs.check(EvalsConfig::apply_env(self, &|k: &str| env(k)));
    }

    fn validate(&self, errs: &mut Errors) {
        errs.check(EvalsConfig::validate(self));
        if errs.in_file() {
            for (key, url) in [
                ("evals.judge.base_url", &self.judge.base_url),
                ("evals.phoenix.endpoint", &self.phoenix.endpoint),
            ] {
                if let Some(why) = chatobs_core::config::url_credentials(url) {
                    errs.push(key, format!("not in a file: {why}"));
                }
            }
        }
    }
}

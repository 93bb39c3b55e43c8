//! Online evaluations and operator feedback.
//!
//! Bot owners want to know, for live conversations, whether answers were
//! correct, grounded and polite, and what their operators and users thought,
//! next to the traces. This module gives:
//!
//! * the [`Evaluator`] interface (input, output, optional reference answer
//!   and context documents; result = label, score, explanation) and
//!   built-ins: [`judge::qa_correctness`] (`correct`/`incorrect`),
//!   [`judge::hallucination`] (`hallucinated`/`factual`) and
//!   [`judge::toxicity`] (`toxic`/`non-toxic`), an LLM judge over any
//!   OpenAI-compatible chat-completions API, and [`Readability`], computed
//!   locally (Flesch / Flesch-Kincaid for English, Fernandez-Huerta and
//!   Szigriszt-Pazos for Spanish, matching Python textstat 0.7.3);
//! * the [`EvalPipeline`]: submitting never blocks or fails the conversation
//!   (a bounded queue, a worker pool of `evals.concurrency` workers on its
//!   own thread, drop-and-count when full, a sampling rate per evaluator,
//!   a drain with a time limit at shutdown);
//! * results linked to what they judge: the evaluated span has usually
//!   ended (a finished span cannot change), so each result is an
//!   `EVALUATOR` span, child of the evaluated span, with the same session
//!   id, the attributes `eval.<name>.score|label|explanation` and the event
//!   `gen_ai.evaluation.result` (attributes `gen_ai.evaluation.name`,
//!   `gen_ai.evaluation.score.value|score.label`, `gen_ai.evaluation.explanation`);
//! * [`phoenix::PhoenixAnnotations`]: optional export of results and feedback
//!   to Phoenix as span annotations, off the request path;
//! * [`feedback::FeedbackRecorder`]: thumbs-up / thumbs-down from operators
//!   (by span or by WhatsApp message id) and from users (WhatsApp 👍 / 👎
//!   reactions to a bot reply).
//!
//! # Scores
//!
//! | evaluator | annotator | labels (score) |
//! |---|---|---|
//! | `qa_correctness` | LLM | `correct` (1), `incorrect` (0) |
//! | `hallucination` | LLM | `hallucinated` (1), `factual` (0) |
//! | `toxicity` | LLM | `toxic` (1), `non-toxic` (0) |
//! | `readability` | CODE | Flesch band (`very_easy` ... `very_difficult`); score = reading ease (en) or Fernandez-Huerta (es) |
//! | `user feedback` / `operator feedback` | HUMAN | `thumbs-up` (1), `thumbs-down` (0) |
//!
//! The judge scores follow Phoenix's templates (1 for the first label), so
//! a Phoenix dashboard and chatobs agree. A judge answer that names no
//! allowed label is `unparseable` (no score, the raw answer kept, truncated,
//! as the explanation); a judge that fails (timeout, HTTP errors after the
//! retries) leaves an EVALUATOR span with status error and no label.
//!
//! # Example
//!
//! ```
//! use chatobs_runtime::evals::{EvalInput, EvalPipeline, EvalsConfig, Readability};
//! use chatobs_runtime::{testing, SpanBuilder};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! let pipeline = EvalPipeline::builder(EvalsConfig::default())
//!     .evaluator(Arc::new(Readability::default()))
//!     .start()
//!     .expect("the evaluation thread starts");
//! let ((), spans) = testing::capture(|| {
//!     let mut reply = SpanBuilder::new("agent.sales.flow").start();
//!     // Inside the span that sent the answer: never blocks, never fails the bot.
//!     reply.in_scope(|| {
//!         pipeline.submit("readability", EvalInput::new("¿precio?", "El precio es de diez dólares."));
//!     });
//!     drop(reply);
//!     assert!(pipeline.wait_idle(Duration::from_secs(5)));
//! });
//! let reply = spans.one("agent.sales.flow");
//! let eval = spans.one("eval.readability");
//! assert_eq!(eval.parent_span_id, reply.span_id);
//! assert!(eval.attr("eval.readability.score").is_some());
//! pipeline.shutdown(Duration::from_secs(1));
//! ```
//!
//! # Metrics
//!
//! The metrics module is not there yet: [`EvalPipeline::stats`] has the
//! counters (submitted, sampled out, dropped, completed, failed,
//! unparseable, in flight) and [`EvalPipelineBuilder::on_result`] is the
//! hook a score histogram per evaluator (or an alert rule) plugs into.

pub mod config;
pub mod feedback;
pub mod judge;
pub mod phoenix;
pub mod phoenix_prices;
pub mod pipeline;
pub mod readability;

pub use config::{EvalsConfig, FeedbackConfig, JudgeConfig, PhoenixConfig, ReadabilityConfig};
pub use feedback::{Feedback, FeedbackRecorder, FeedbackSource, Thumb};
pub use judge::{JudgeClient, JudgeTemplate, LlmJudge};
pub use phoenix::{Annotation, PhoenixAnnotations, TraceAnnotation};
pub use pipeline::{EvalPipeline, EvalPipelineBuilder, EvalRecord, EvalStats, Submitted};
pub use readability::Lang;

// The core modules this crate builds on.
use chatobs_core::{context, ids, model, redact, span, vocab, Error};
use chatobs_cost as cost;

use context::Context;
use model::{KeyValue, Value};
use span::{ChatSpan, SpanBuilder};
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use vocab::{Role, SpanKind};

/// A boxed, sendable future (what [`Evaluator::evaluate`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The label of a judge answer that named no allowed label.
pub const UNPARSEABLE: &str = "unparseable";

/// What an evaluator judges.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EvalInput {
    /// The user's message (the question).
    pub input: String,
    /// The bot's answer.
    pub output: String,
    /// A reference (expected) answer, if known.
    pub reference: Option<String>,
    /// Context documents the answer should be grounded in (retrieved passages,
    /// the product sheet, the order).
    pub context: Vec<String>,
}

impl EvalInput {
    /// The question and the answer.
    pub fn new(input: impl Into<String>, output: impl Into<String>) -> EvalInput {
        EvalInput {
            input: input.into(),
            output: output.into(),
            reference: None,
            context: Vec::new(),
        }
    }
    /// With a reference answer.
    pub fn reference(mut self, r: impl Into<String>) -> Self {
        self.reference = Some(r.into());
        self
    }
    /// With a context document (call once per document).
    pub fn context(mut self, doc: impl Into<String>) -> Self {
        self.context.push(doc.into());
        self
    }
}

/// Who produced a result (Phoenix's `annotator_kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnnotatorKind {
    /// An LLM judge.
    Llm,
    /// Code (readability, heuristics).
    Code,
    /// A person (operator or user feedback).
    Human,
}

impl AnnotatorKind {
    /// `LLM`, `CODE` or `HUMAN`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnnotatorKind::Llm => "LLM",
            AnnotatorKind::Code => "CODE",
            AnnotatorKind::Human => "HUMAN",
        }
    }
}

/// The verdict of an evaluator.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalResult {
    /// The label, from the evaluator's closed set (or [`UNPARSEABLE`]).
    pub label: String,
    /// The score (none for an unparseable answer).
    pub score: Option<f64>,
    /// Why (the judge's explanation, or the raw answer when unparseable).
    pub explanation: Option<String>,
    /// Extra attributes for the EVALUATOR span (keys from [`crate::vocab`]).
    pub attributes: Vec<KeyValue>,
}

impl EvalResult {
    /// A labelled, scored result.
    pub fn new(label: impl Into<String>, score: Option<f64>) -> EvalResult {
        EvalResult {
            label: label.into(),
            score,
            explanation: None,
            attributes: Vec::new(),
        }
    }
    /// With an explanation.
    pub fn explanation(mut self, e: impl Into<String>) -> Self {
        self.explanation = Some(e.into());
        self
    }
    /// Whether the judge's answer could not be read.
    pub fn is_unparseable(&self) -> bool {
        self.label == UNPARSEABLE
    }
}

/// Why an evaluation produced no result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The judge did not answer in time (after the retries).
    #[error("the judge did not answer within {0} ms (after retries)")]
    Timeout(u64),
    /// The judge answered with an HTTP error (after the retries for 429 and 5xx).
    #[error("the judge answered HTTP {status}")]
    Http {
        /// The last status.
        status: u16,
    },
    /// The judge could not be reached.
    #[error("the judge could not be reached: {0}")]
    Transport(String),
    /// The evaluator is missing something it needs.
    #[error("{0}")]
    MissingInput(String),
    /// The evaluator is not configured (no base URL, model, ...).
    #[error("{0}")]
    Config(String),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl EvalError {
    /// The `error.type` value.
    pub fn kind(&self) -> &'static str {
        match self {
            EvalError::Timeout(_) => "timeout",
            EvalError::Http { status: 429 } => "http_429",
            EvalError::Http { status } if *status >= 500 => "http_5xx",
            EvalError::Http { .. } => "http_4xx",
            EvalError::Transport(_) => "transport",
            EvalError::MissingInput(_) => "missing_input",
            EvalError::Config(_) => "config",
            EvalError::Other(_) => "other",
        }
    }
}

/// An evaluator: judges one [`EvalInput`].
///
/// Implement it for your own checks; the future runs on the evaluation
/// thread, inside the EVALUATOR span (so spans you start in it, like an LLM
/// call, are its children).
///
/// ```
/// use chatobs_runtime::evals::{AnnotatorKind, BoxFuture, EvalError, EvalInput, EvalResult, Evaluator};
///
/// /// Answers must not promise a delivery date.
/// struct NoPromises;
/// impl Evaluator for NoPromises {
///     fn name(&self) -> &str { "no_promises" }
///     fn annotator_kind(&self) -> AnnotatorKind { AnnotatorKind::Code }
///     fn evaluate<'a>(&'a self, input: &'a EvalInput) -> BoxFuture<'a, Result<EvalResult, EvalError>> {
///         Box::pin(async move {
///             let bad = input.output.contains("llega mañana");
///             Ok(EvalResult::new(if bad { "promise" } else { "ok" }, Some(if bad { 0.0 } else { 1.0 })))
///         })
///     }
/// }
/// ```
pub trait Evaluator: Send + Sync + 'static {
    /// The name: `eval.<name>.*` attributes, the span `eval.<name>`, the
    /// Phoenix annotation name. 1 to 64 characters of `a-z 0-9 _`.
    fn name(&self) -> &str;
    /// Who produces the result.
    fn annotator_kind(&self) -> AnnotatorKind;
    /// Judges `input`.
    fn evaluate<'a>(&'a self, input: &'a EvalInput)
        -> BoxFuture<'a, Result<EvalResult, EvalError>>;
}

/// Whether `name` can be an evaluator name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Runs `evaluator` on `input` now, as a result of the span `target`
/// (usually taken with [`Context::current`] when the answer was sent): an
/// EVALUATOR span child of `target` with its session, the result's
/// attributes and the `gen_ai.evaluation.result` event. The
/// [`EvalPipeline`] calls this on its workers; call it yourself in offline
/// jobs or tests.
pub async fn run(
    evaluator: &dyn Evaluator,
    input: &EvalInput,
    target: &Context,
) -> Result<EvalResult, EvalError> {
    let name = evaluator.name().to_owned();
    let mut span = eval_span(&name, evaluator.annotator_kind(), target);
    let res = span.in_future(evaluator.evaluate(input)).await;
    match &res {
        Ok(r) => apply_result(&mut span, &name, r),
        Err(e) => {
            span.set_attribute(vocab::ERROR_TYPE, e.kind());
            span.set_error(e);
        }
    }
    res
}

fn eval_span(name: &str, kind: AnnotatorKind, target: &Context) -> ChatSpan {
    let mut b = SpanBuilder::new(format!("{}{name}", vocab::EVAL_PREFIX))
        .span_kind(SpanKind::Evaluator)
        .role(Role::EVALUATOR)
        .parent(target.clone())
        .attribute(vocab::EVAL_NAME, name.to_owned())
        .attribute(vocab::EVAL_ANNOTATOR_KIND, kind.as_str());
    if target.has_span() {
        b = b.attribute(vocab::EVAL_TARGET_SPAN_ID, target.span_id.to_hex());
    }
    b.start()
}

/// Writes a result on an EVALUATOR span: `eval.<name>.*` and the event.
pub(crate) fn apply_result(span: &mut ChatSpan, name: &str, r: &EvalResult) {
    let mut event: Vec<KeyValue> = vec![(
        Cow::Borrowed(vocab::GEN_AI_EVALUATION_NAME),
        Value::from(name.to_owned()),
    )];
    span.set_attribute(
        vocab::eval_key(name, vocab::EVAL_LABEL_SUFFIX),
        r.label.clone(),
    );
    event.push((
        Cow::Borrowed(vocab::GEN_AI_EVALUATION_SCORE_LABEL),
        Value::from(r.label.clone()),
    ));
    if let Some(s) = r.score {
        span.set_attribute(vocab::eval_key(name, vocab::EVAL_SCORE_SUFFIX), s);
        event.push((
            Cow::Borrowed(vocab::GEN_AI_EVALUATION_SCORE_VALUE),
            Value::F64(s),
        ));
    }
    if let Some(e) = &r.explanation {
        span.set_attribute(
            vocab::eval_key(name, vocab::EVAL_EXPLANATION_SUFFIX),
            e.clone(),
        );
        event.push((
            Cow::Borrowed(vocab::GEN_AI_EVALUATION_EXPLANATION),
            Value::from(e.clone()),
        ));
    }
    for (k, v) in &r.attributes {
        span.set_attribute(k.clone(), v.clone());
    }
    span.add_event(vocab::GEN_AI_EVALUATION_RESULT, event);
    span.set_ok();
}

/// The readability evaluator (annotator `CODE`): label = Flesch band,
/// score = reading ease (English) or Fernandez-Huerta (Spanish), details in
/// `eval.readability.*`. See [`readability`] for the formulas.
#[derive(Clone, Debug, Default)]
pub struct Readability {
    /// The language (`None`: detect per text).
    pub language: Option<Lang>,
}

impl Readability {
    /// For a fixed language.
    pub fn for_language(lang: Lang) -> Readability {
        Readability {
            language: Some(lang),
        }
    }
}

impl Evaluator for Readability {
    fn name(&self) -> &str {
        "readability"
    }
    fn annotator_kind(&self) -> AnnotatorKind {
        AnnotatorKind::Code
    }
    fn evaluate<'a>(
        &'a self,
        input: &'a EvalInput,
    ) -> BoxFuture<'a, Result<EvalResult, EvalError>> {
        Box::pin(async move {
            let r = readability::readability(&input.output, self.language);
            let mut out = EvalResult::new(r.label(), Some(r.score())).explanation(format!(
                "{} words, {} sentences, {} syllables ({}{})",
                r.words,
                r.sentences,
                r.syllables,
                r.language.as_str(),
                if r.detected { ", detected" } else { "" }
            ));
            let mut a = |k: &'static str, v: Value| out.attributes.push((Cow::Borrowed(k), v));
            a(
                vocab::EVAL_READABILITY_LANGUAGE,
                Value::from(r.language.as_str()),
            );
            a(
                vocab::EVAL_READABILITY_FLESCH_READING_EASE,
                Value::F64(r.flesch_reading_ease),
            );
            if let Some(v) = r.flesch_kincaid_grade {
                a(vocab::EVAL_READABILITY_FLESCH_KINCAID_GRADE, Value::F64(v));
            }
            if let Some(v) = r.fernandez_huerta {
                a(vocab::EVAL_READABILITY_FERNANDEZ_HUERTA, Value::F64(v));
            }
            if let Some(v) = r.szigriszt_pazos {
                a(vocab::EVAL_READABILITY_SZIGRISZT_PAZOS, Value::F64(v));
            }
            a(vocab::EVAL_READABILITY_WORDS, Value::from(r.words as u64));
            a(
                vocab::EVAL_READABILITY_SENTENCES,
                Value::from(r.sentences as u64),
            );
            a(
                vocab::EVAL_READABILITY_SYLLABLES,
                Value::from(r.syllables as u64),
            );
            Ok(out)
        })
    }
}

//! The vocabulary: every attribute key, event name and closed set chatobs writes.
//!
//! This crate has no dependencies (serde only behind the `serde` feature) and
//! knows nothing of the crates built on it: `chatobs-macros` checks
//! `#[chat_span]` arguments against the closed sets here ([`Role::BUILTIN`],
//! [`SpanKind::ALL`], [`TemplateCategory::ALL`]) and the runtime writes the
//! same values, so the two cannot drift.
//!
//! This is the one place where a key is spelled as a string. Everything else in
//! chatobs (and in your code, through `record!` (re-exported by `chatobs-runtime`)) refers to these
//! constants, so a typo is a compile error rather than a silently missing
//! attribute in Phoenix, Langfuse or Logfire.
//!
//! The conversation identity is written under three names because the
//! backends read different ones: [`CHAT_SESSION_ID`] (chatobs, the seed),
//! [`SESSION_ID`] (Phoenix / OpenInference, Langfuse) and
//! [`GEN_AI_CONVERSATION_ID`] (OpenTelemetry GenAI, Langfuse fallback).

pub mod custom;
pub mod events;
pub use events::{ChatEvent, EventField, FieldKind, CHAT_EVENT_NAME, PL_EVENT, PROM_CHAT_EVENTS};

/// Instrumentation scope name used on every exported span.
pub const SCOPE_NAME: &str = "chatobs";

// ---- conversation identity -------------------------------------------------
/// The conversation id (keyed hash of the user's identity).
pub const CHAT_SESSION_ID: &str = "chat.session_id";
/// The same id under the OpenInference / Langfuse name.
pub const SESSION_ID: &str = "session.id";
/// The same id under the OpenTelemetry GenAI name.
pub const GEN_AI_CONVERSATION_ID: &str = "gen_ai.conversation.id";
/// The user's stable key (keyed hash of the number), apart from the
/// conversation id: one user has many conversations (OpenInference,
/// Langfuse and the OpenTelemetry `user.id`).
pub const USER_ID: &str = "user.id";

// ---- chat attributes set by #[chat_span] ----------------------------------
/// The agent role (`classifier`, `orchestrator`, `sales`, `pqr`, ...).
pub const AGENT_ROLE: &str = "agent.role";
/// The conversation step.
pub const CONVERSATION_STEP: &str = "conversation.step";
/// WhatsApp template category of the message the span sends.
pub const TEMPLATE_CATEGORY: &str = "template_category";
/// Tags, as a string array (OpenInference / Langfuse).
pub const TAG_TAGS: &str = "tag.tags";
/// Tags, as a string array (Logfire).
pub const LOGFIRE_TAGS: &str = "logfire.tags";
/// OpenInference span kind (`LLM`, `CHAIN`, `AGENT`, ...).
pub const OPENINFERENCE_SPAN_KIND: &str = "openinference.span.kind";
/// Prefix of captured arguments: `chat.arg.<name>`.
pub const CHAT_ARG_PREFIX: &str = "chat.arg.";

// ---- content (opt-in: `[redaction] capture_content`) ----------------------------------------
/// OpenInference: the span's input (the user's message on a turn, the prompt on an LLM span).
pub const INPUT_VALUE: &str = "input.value";
/// OpenInference: `text/plain` or `application/json`.
pub const INPUT_MIME_TYPE: &str = "input.mime_type";
/// OpenInference: the span's output (the last reply sent on a turn, the completion on an LLM span).
pub const OUTPUT_VALUE: &str = "output.value";
/// OpenInference: `text/plain` or `application/json`.
pub const OUTPUT_MIME_TYPE: &str = "output.mime_type";
/// OpenInference: prefix of the prompt's messages (`llm.input_messages.<i>.message.role` / `.content`).
pub const LLM_INPUT_MESSAGES: &str = "llm.input_messages";
/// OpenInference: prefix of the completion's messages.
pub const LLM_OUTPUT_MESSAGES: &str = "llm.output_messages";
/// OpenTelemetry GenAI: the prompt's messages, as a JSON string.
pub const GEN_AI_INPUT_MESSAGES: &str = "gen_ai.input.messages";
/// OpenTelemetry GenAI: the completion's messages, as a JSON string.
pub const GEN_AI_OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
/// Marks the root of a user turn (`true`: from the message's arrival to the
/// last reply sent), or a root that is not one (`false`: a status callback,
/// a reaction, a conversation closing). Roots without it count as turns when
/// they carry a conversation. A span marked `false` keeps `chat.session_id`
/// and `user.id` but not `session.id` / `gen_ai.conversation.id`, so the
/// session views of Phoenix and Langfuse list the user's turns only.
pub const CHAT_TURN: &str = "chat.turn";
/// Span name of a user turn (the WhatsApp webhook's root span of an inbound message).
pub const WHATSAPP_TURN_SPAN: &str = "whatsapp.turn";
/// Set when a span's future was dropped before it completed.
pub const CHAT_CANCELLED: &str = "chat.cancelled";
/// Source location of the instrumented function.
pub const CODE_FUNCTION: &str = "code.function";
/// Source file of the instrumented function.
pub const CODE_FILEPATH: &str = "code.filepath";
/// Source line of the instrumented function.
pub const CODE_LINENO: &str = "code.lineno";

// ---- exceptions --------------------------------------------------------------
/// Event name of a recorded error.
pub const EXCEPTION_EVENT: &str = "exception";
/// The error's type.
pub const EXCEPTION_TYPE: &str = "exception.type";
/// The error's Display text.
pub const EXCEPTION_MESSAGE: &str = "exception.message";

// ---- GenAI (OpenTelemetry semantic conventions, Development status) ----------
/// `chat`, `text_completion`, `embeddings`, ...
pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
/// `gcp.gemini`, `gcp.vertex_ai`, `openai`, ...
pub const GEN_AI_PROVIDER_NAME: &str = "gen_ai.provider.name";
/// Model asked for.
pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
/// Model that answered.
pub const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
/// Input tokens (cached tokens included).
pub const GEN_AI_USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// Output tokens (reasoning tokens included).
pub const GEN_AI_USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// Cached input tokens read.
pub const GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
/// Input tokens written to the cache.
pub const GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: &str =
    "gen_ai.usage.cache_creation.input_tokens";
/// Reasoning output tokens.
pub const GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: &str = "gen_ai.usage.reasoning.output_tokens";
/// Price of the call in USD (the seed's name).
pub const GEN_AI_USAGE_PRICE_USD: &str = "gen_ai.usage.price_usd";
/// Set when the call could not be priced.
pub const GEN_AI_USAGE_PRICE_UNKNOWN: &str = "gen_ai.usage.price_unknown";
/// Prompt characters (per-character billing, Vertex AI Gemini 1.5).
pub const GEN_AI_USAGE_INPUT_CHARACTERS: &str = "gen_ai.usage.input_characters";
/// Output characters (per-character billing).
pub const GEN_AI_USAGE_OUTPUT_CHARACTERS: &str = "gen_ai.usage.output_characters";
/// Token type attribute of the token usage metric.
pub const GEN_AI_TOKEN_TYPE: &str = "gen_ai.token.type";
/// Token usage histogram.
pub const METRIC_GEN_AI_TOKEN_USAGE: &str = "gen_ai.client.token.usage";
/// Operation duration histogram.
pub const METRIC_GEN_AI_OPERATION_DURATION: &str = "gen_ai.client.operation.duration";

// ---- OpenInference mirrors (Phoenix) --------------------------------------------
/// Model name.
pub const LLM_MODEL_NAME: &str = "llm.model_name";
/// Provider.
pub const LLM_PROVIDER: &str = "llm.provider";
/// Prompt tokens.
pub const LLM_TOKEN_COUNT_PROMPT: &str = "llm.token_count.prompt";
/// Completion tokens.
pub const LLM_TOKEN_COUNT_COMPLETION: &str = "llm.token_count.completion";
/// Total tokens.
pub const LLM_TOKEN_COUNT_TOTAL: &str = "llm.token_count.total";
/// Cached prompt tokens.
pub const LLM_TOKEN_COUNT_PROMPT_CACHE_READ: &str = "llm.token_count.prompt_details.cache_read";
/// Prompt cost.
pub const LLM_COST_PROMPT: &str = "llm.cost.prompt";
/// Completion cost.
pub const LLM_COST_COMPLETION: &str = "llm.cost.completion";
/// Total cost.
pub const LLM_COST_TOTAL: &str = "llm.cost.total";
/// Logfire's cost attribute.
pub const OPERATION_COST: &str = "operation.cost";
/// Langfuse's ingested cost of a generation: a JSON object string
/// `{"input":..,"output":..,"total":..}` in USD, the exact decimal figures of
/// `llm.cost.*` (written by the OTLP exporter under the Langfuse presets).
pub const LANGFUSE_OBSERVATION_COST_DETAILS: &str = "langfuse.observation.cost_details";
/// Langfuse's trace release (the OTLP exporter writes `service.version` on
/// every span under the Langfuse presets).
pub const LANGFUSE_RELEASE: &str = "langfuse.release";
/// The deployment environment under its current OpenTelemetry name (the
/// OTLP exporter adds it to the resource under the Logfire preset).
pub const DEPLOYMENT_ENVIRONMENT_NAME: &str = "deployment.environment.name";

// ---- WhatsApp -------------------------------------------------------------------
/// Channel fee of the message in USD.
pub const MESSAGING_WHATSAPP_PRICE_USD: &str = "messaging.whatsapp.price_usd";
/// Pricing category.
pub const MESSAGING_WHATSAPP_CATEGORY: &str = "messaging.whatsapp.category";
/// Market (chosen by the recipient's calling code).
pub const MESSAGING_WHATSAPP_MARKET: &str = "messaging.whatsapp.market";
/// `regular`, `free_customer_service`, `free_entry_point`.
pub const MESSAGING_WHATSAPP_PRICING_TYPE: &str = "messaging.whatsapp.pricing_type";
/// `CBP` (conversation based) or `PMP` (per message).
pub const MESSAGING_WHATSAPP_PRICING_MODEL: &str = "messaging.whatsapp.pricing_model";
/// Whether Meta bills the message.
pub const MESSAGING_WHATSAPP_BILLABLE: &str = "messaging.whatsapp.billable";
/// What made the message free (`customer_service_window`, `free_entry_point_window`, ...).
pub const MESSAGING_WHATSAPP_FREE_BY: &str = "messaging.whatsapp.free_by";
/// The rate card in force at delivery (its name, such as `Meta rate card effective 2025-07-01`).
pub const MESSAGING_WHATSAPP_RATE_CARD: &str = "messaging.whatsapp.rate_card";
/// The first day of the rate row used (`YYYY-MM-DD`): with the market and category, the row to audit.
pub const MESSAGING_WHATSAPP_RATE_EFFECTIVE: &str = "messaging.whatsapp.rate_effective";
/// The delivery lies past the newest rate card chatobs knows (plus a quarter): Meta may have published a newer one.
pub const MESSAGING_WHATSAPP_RATE_CARD_STALE: &str = "messaging.whatsapp.rate_card_stale";
/// Set when the message could not be priced (no market or rate).
pub const MESSAGING_WHATSAPP_PRICE_UNKNOWN: &str = "messaging.whatsapp.price_unknown";
/// chatobs' estimate, on a reconciliation event.
pub const MESSAGING_WHATSAPP_PRICE_ESTIMATE_USD: &str = "messaging.whatsapp.price_estimate_usd";
/// Meta's figure minus the estimate, on a reconciliation event.
pub const MESSAGING_WHATSAPP_PRICE_DIFFERENCE_USD: &str = "messaging.whatsapp.price_difference_usd";
/// Event: a status webhook's pricing differed from the estimate.
pub const WHATSAPP_PRICING_RECONCILED: &str = "messaging.whatsapp.pricing.reconciled";

// ---- conversation running total --------------------------------------------------
/// The conversation's running total (LLM + WhatsApp) when the span ended.
pub const CHAT_SESSION_COST_USD: &str = "chat.session.cost_usd";
/// The conversation's LLM part.
pub const CHAT_SESSION_COST_LLM_USD: &str = "chat.session.cost.llm_usd";
/// The conversation's WhatsApp part.
pub const CHAT_SESSION_COST_WHATSAPP_USD: &str = "chat.session.cost.whatsapp_usd";
/// What evaluating the conversation cost (LLM judges), not part of the total.
pub const CHAT_SESSION_COST_EVALUATION_USD: &str = "chat.session.cost.evaluation_usd";
/// Set when some call of the conversation could not be priced.
pub const CHAT_SESSION_COST_INCOMPLETE: &str = "chat.session.cost_incomplete";
/// Event (and span name when no span is current): a conversation was closed.
pub const CONVERSATION_CLOSED: &str = "conversation.closed";
/// Inbound messages of the conversation (on `conversation.closed`).
pub const CHAT_SESSION_MESSAGES_INBOUND: &str = "chat.session.messages.inbound";
/// Outbound messages of the conversation (on `conversation.closed`).
pub const CHAT_SESSION_MESSAGES_OUTBOUND: &str = "chat.session.messages.outbound";
/// LLM calls of the conversation (on `conversation.closed`).
pub const CHAT_SESSION_LLM_CALLS: &str = "chat.session.llm_calls";
/// Duration of the conversation in milliseconds (on `conversation.closed`).
pub const CHAT_SESSION_DURATION_MS: &str = "chat.session.duration_ms";
/// Turns of the conversation: user messages the bot answered (on `conversation.closed`).
pub const CHAT_SESSION_TURNS: &str = "chat.session.turns";
/// Why the conversation closed: `inactivity`, `closed_by_code`, `shutdown` (on `conversation.closed`).
pub const CHAT_SESSION_CLOSE_REASON: &str = "chat.session.close_reason";
/// The conversation's outcome as the bot set it (`sale`, `resolved`, ...), else `none`.
pub const CHAT_SESSION_OUTCOME: &str = "chat.session.outcome";

// ---- evaluations ---------------------------------------------------------------------
/// Event name of an evaluation result.
pub const GEN_AI_EVALUATION_RESULT: &str = "gen_ai.evaluation.result";
/// Evaluation event: the evaluator's name (OpenTelemetry GenAI evaluation event).
pub const GEN_AI_EVALUATION_NAME: &str = "gen_ai.evaluation.name";
/// Evaluation event: the numeric score.
pub const GEN_AI_EVALUATION_SCORE_VALUE: &str = "gen_ai.evaluation.score.value";
/// Evaluation event: the label.
pub const GEN_AI_EVALUATION_SCORE_LABEL: &str = "gen_ai.evaluation.score.label";
/// Evaluation event: the explanation.
pub const GEN_AI_EVALUATION_EXPLANATION: &str = "gen_ai.evaluation.explanation";
/// Prefix of evaluation attributes: `eval.<name>.score|label|explanation`
/// (see [`eval_key`]); also the prefix of EVALUATOR span names (`eval.<name>`).
pub const EVAL_PREFIX: &str = "eval.";
/// Suffix of an evaluation's score attribute.
pub const EVAL_SCORE_SUFFIX: &str = ".score";
/// Suffix of an evaluation's label attribute.
pub const EVAL_LABEL_SUFFIX: &str = ".label";
/// Suffix of an evaluation's explanation attribute.
pub const EVAL_EXPLANATION_SUFFIX: &str = ".explanation";
/// The evaluator's name on an EVALUATOR span.
pub const EVAL_NAME: &str = "eval.name";
/// Span id (hex) of the evaluated span, on an EVALUATOR span.
pub const EVAL_TARGET_SPAN_ID: &str = "eval.target.span_id";
/// Who produced the result: `LLM`, `CODE` or `HUMAN` (Phoenix's annotator kinds).
pub const EVAL_ANNOTATOR_KIND: &str = "eval.annotator_kind";
/// Readability: `en` or `es`.
pub const EVAL_READABILITY_LANGUAGE: &str = "eval.readability.language";
/// Readability: Flesch reading ease with the language's coefficients.
pub const EVAL_READABILITY_FLESCH_READING_EASE: &str = "eval.readability.flesch_reading_ease";
/// Readability: Flesch-Kincaid grade (English).
pub const EVAL_READABILITY_FLESCH_KINCAID_GRADE: &str = "eval.readability.flesch_kincaid_grade";
/// Readability: Fernandez-Huerta (Spanish).
pub const EVAL_READABILITY_FERNANDEZ_HUERTA: &str = "eval.readability.fernandez_huerta";
/// Readability: Szigriszt-Pazos (Spanish).
pub const EVAL_READABILITY_SZIGRISZT_PAZOS: &str = "eval.readability.szigriszt_pazos";
/// Readability: words counted.
pub const EVAL_READABILITY_WORDS: &str = "eval.readability.words";
/// Readability: sentences counted.
pub const EVAL_READABILITY_SENTENCES: &str = "eval.readability.sentences";
/// Readability: syllables counted.
pub const EVAL_READABILITY_SYLLABLES: &str = "eval.readability.syllables";
/// Retries of an HTTP request (OpenTelemetry HTTP convention), on the judge's span.
pub const HTTP_REQUEST_RESEND_COUNT: &str = "http.request.resend_count";
/// HTTP status of the last response, on the judge's span.
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// Class of an error (OpenTelemetry `error.type`): `timeout`, `http_429`, ...
pub const ERROR_TYPE: &str = "error.type";

// ---- operator and user feedback -------------------------------------------------------
/// Span name of a feedback annotation.
pub const FEEDBACK_SPAN: &str = "feedback";
/// Who gave the feedback: `user` or `operator`.
pub const FEEDBACK_ROLE: &str = "feedback.role";
/// `thumbs-up` or `thumbs-down`.
pub const FEEDBACK_LABEL: &str = "feedback.label";
/// 1 (thumbs-up) or 0 (thumbs-down).
pub const FEEDBACK_SCORE: &str = "feedback.score";
/// The operator's id (operator feedback).
pub const FEEDBACK_OPERATOR_ID: &str = "feedback.operator_id";
/// The operator's note (redacted like any free text).
pub const FEEDBACK_NOTE: &str = "feedback.note";
/// How the feedback arrived: `api`, `wamid` or `reaction`.
pub const FEEDBACK_SOURCE: &str = "feedback.source";
/// The WhatsApp message id the feedback is about.
pub const FEEDBACK_WAMID: &str = "feedback.wamid";
/// The reaction emoji (WhatsApp reaction feedback).
pub const FEEDBACK_EMOJI: &str = "feedback.emoji";
/// Event name of a feedback annotation.
pub const FEEDBACK_EVENT: &str = "chat.feedback";
/// Evaluation name (and Phoenix annotation name) of user feedback.
pub const USER_FEEDBACK_NAME: &str = "user feedback";
/// Evaluation name (and Phoenix annotation name) of operator feedback.
pub const OPERATOR_FEEDBACK_NAME: &str = "operator feedback";
/// Attribute segment of user feedback: `eval.user_feedback.*`.
pub const USER_FEEDBACK_KEY: &str = "user_feedback";
/// Attribute segment of operator feedback: `eval.operator_feedback.*`.
pub const OPERATOR_FEEDBACK_KEY: &str = "operator_feedback";

/// `eval.<name><suffix>`, for example `eval_key("toxicity", EVAL_LABEL_SUFFIX)`
/// is `eval.toxicity.label`.
pub fn eval_key(name: &str, suffix: &str) -> String {
    let mut k = String::with_capacity(EVAL_PREFIX.len() + name.len() + suffix.len());
    k.push_str(EVAL_PREFIX);
    k.push_str(name);
    k.push_str(suffix);
    k
}

// ---- HTTP, URL, server (OpenTelemetry HTTP semantic conventions, stable) ----------------
/// `GET`, `POST`, ... (`_OTHER` for methods outside the standard set).
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// The matched route template (`/orders/{id}`), never the raw path.
pub const HTTP_ROUTE: &str = "http.route";
/// Prefix of recorded request headers: `http.request.header.<lowercase name>` (string array).
pub const HTTP_REQUEST_HEADER_PREFIX: &str = "http.request.header.";
/// Request body size in bytes.
pub const HTTP_REQUEST_BODY_SIZE: &str = "http.request.body.size";
/// Response body size in bytes.
pub const HTTP_RESPONSE_BODY_SIZE: &str = "http.response.body.size";
/// `http` or `https`.
pub const URL_SCHEME: &str = "url.scheme";
/// Path of the request (server spans), redacted.
pub const URL_PATH: &str = "url.path";
/// Query string (server spans), with credential-like values redacted.
pub const URL_QUERY: &str = "url.query";
/// The full URL (client spans), user info and credential-like query values redacted.
pub const URL_FULL: &str = "url.full";
/// Host the request was sent to / received on.
pub const SERVER_ADDRESS: &str = "server.address";
/// Port of [`SERVER_ADDRESS`].
pub const SERVER_PORT: &str = "server.port";
/// `1.1`, `2`.
pub const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";
/// The `User-Agent` header.
pub const USER_AGENT_ORIGINAL: &str = "user_agent.original";
/// HTTP server duration histogram (seconds), by method, route and status.
pub const METRIC_HTTP_SERVER_REQUEST_DURATION: &str = "http.server.request.duration";
/// HTTP client duration histogram (seconds).
pub const METRIC_HTTP_CLIENT_REQUEST_DURATION: &str = "http.client.request.duration";
/// Which service of a multi-service bot wrote the span (when several run in one process;
/// the resource's `service.name` names the process).
pub const CHAT_SERVICE_NAME: &str = "chat.service.name";

// ---- messaging (WhatsApp webhook) -------------------------------------------------------
/// `whatsapp`.
pub const MESSAGING_SYSTEM: &str = "messaging.system";
/// `receive` (webhook), `send` (Graph API).
pub const MESSAGING_OPERATION_TYPE: &str = "messaging.operation.type";
/// The WhatsApp message id (wamid).
pub const MESSAGING_MESSAGE_ID: &str = "messaging.message.id";
/// Messages in the webhook POST.
pub const MESSAGING_BATCH_MESSAGE_COUNT: &str = "messaging.batch.message_count";
/// `text`, `interactive`, `reaction`, `image`, `audio`, `document`, `location`, ..., `unsupported`.
pub const MESSAGING_WHATSAPP_MESSAGE_TYPE: &str = "messaging.whatsapp.message.type";
/// The type Meta sent when chatobs does not know it (bounded, ASCII).
pub const MESSAGING_WHATSAPP_MESSAGE_ORIGINAL_TYPE: &str =
    "messaging.whatsapp.message.original_type";
/// `button_reply` or `list_reply`.
pub const MESSAGING_WHATSAPP_INTERACTIVE_TYPE: &str = "messaging.whatsapp.interactive.type";
/// The id the bot gave the button or list row that was chosen.
pub const MESSAGING_WHATSAPP_INTERACTIVE_REPLY_ID: &str = "messaging.whatsapp.interactive.reply_id";
/// Media MIME type (images, audio, documents: metadata only, never the content or caption).
pub const MESSAGING_WHATSAPP_MEDIA_MIME_TYPE: &str = "messaging.whatsapp.media.mime_type";
/// Text length in characters (the text itself is never exported).
pub const MESSAGING_WHATSAPP_TEXT_LENGTH: &str = "messaging.whatsapp.text.length";
/// Status callback: `sent`, `delivered`, `read`, `failed`.
pub const MESSAGING_WHATSAPP_STATUS: &str = "messaging.whatsapp.status";
/// Status callback error code (Meta's).
pub const MESSAGING_WHATSAPP_ERROR_CODE: &str = "messaging.whatsapp.error.code";
/// Status callback error title (Meta's, redacted).
pub const MESSAGING_WHATSAPP_ERROR_TITLE: &str = "messaging.whatsapp.error.title";
/// The user came from a free entry point (click-to-WhatsApp ad, Page button).
pub const MESSAGING_WHATSAPP_ENTRY_POINT: &str = "messaging.whatsapp.entry_point";
/// Meta's error subcode (Graph API `error.error_subcode`).
pub const MESSAGING_WHATSAPP_ERROR_SUBCODE: &str = "messaging.whatsapp.error.subcode";
/// Meta's error type (Graph API `error.type`, such as `OAuthException`).
pub const MESSAGING_WHATSAPP_ERROR_TYPE: &str = "messaging.whatsapp.error.type";
/// Where Meta reported an error: `webhook` (`value.errors`), `message`
/// (a message's `errors[]`), `status` (a status callback's `errors[]`) or
/// `send` (a Graph API answer).
pub const MESSAGING_WHATSAPP_ERROR_SCOPE: &str = "messaging.whatsapp.error.scope";
/// Event: an error Meta reported (attributes: code, title, scope).
pub const WHATSAPP_ERROR_EVENT: &str = "whatsapp.error";
/// The user is known by a business-scoped user id only (no phone number in the payload).
pub const MESSAGING_WHATSAPP_USER_ID_KIND: &str = "messaging.whatsapp.user.id_kind";
/// A group status or message: the group's keyed hash.
pub const MESSAGING_WHATSAPP_GROUP_ID: &str = "messaging.whatsapp.group.id";
/// A group status or message: the participant's keyed hash.
pub const MESSAGING_WHATSAPP_GROUP_PARTICIPANT: &str = "messaging.whatsapp.group.participant";
/// A reaction was removed: the feedback it had given is withdrawn.
pub const FEEDBACK_WITHDRAWN: &str = "feedback.withdrawn";
/// Span name of the processing of a status callback.
pub const WHATSAPP_STATUS_SPAN: &str = "whatsapp.status";

// ---- bot handoffs ---------------------------------------------------------------------------
/// The role handing the conversation over.
pub const HANDOFF_FROM: &str = "chat.handoff.from";
/// The role receiving it.
pub const HANDOFF_TO: &str = "chat.handoff.to";
/// Why (a short code such as `buyer_intent`).
pub const HANDOFF_REASON: &str = "chat.handoff.reason";
/// Confidence of the decision, 0 to 1.
pub const HANDOFF_CONFIDENCE: &str = "chat.handoff.confidence";

// ---- GenAI HTTP instrumentation ---------------------------------------------------------------
/// Whether the request asked for a streamed answer.
pub const GEN_AI_REQUEST_STREAM: &str = "gen_ai.request.stream";
/// Seconds from sending the request to the first chunk of a streamed answer.
pub const GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: &str = "gen_ai.response.time_to_first_chunk";
/// Finish reasons of the answer (string array).
pub const GEN_AI_RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
/// The provider's response id.
pub const GEN_AI_RESPONSE_ID: &str = "gen_ai.response.id";

// ---- budgets and alerts (see chatobs-alerts) -------------------------------------------
/// Log message and span event of a fired alert.
pub const ALERT_FIRED: &str = "alert.fired";
/// The rule's name (`llm_call_cost`, `conversation_budget`, ...).
pub const ALERT_RULE: &str = "alert.rule";
/// The rule's severity (`warning`, `critical`, ...).
pub const ALERT_SEVERITY: &str = "alert.severity";
/// The quantity the rule watches (`llm_call_cost_usd`, `conversation_cost_usd`, ...).
pub const ALERT_QUANTITY: &str = "alert.quantity";
/// The rule's threshold.
pub const ALERT_THRESHOLD: &str = "alert.threshold";
/// The value that breached it.
pub const ALERT_VALUE: &str = "alert.value";
/// By how much the value is past the threshold.
pub const ALERT_EXCEEDED_BY: &str = "alert.exceeded_by";
/// Log field: trace id (hex) of the breaching span.
pub const LOG_TRACE_ID: &str = "trace_id";
/// Log field: span id (hex) of the breaching span.
pub const LOG_SPAN_ID: &str = "span_id";
/// Alertmanager label: the alert's name.
pub const AM_ALERTNAME: &str = "alertname";
/// Alertmanager label: severity.
pub const AM_SEVERITY: &str = "severity";
/// Alertmanager label: the service (`service.name`).
pub const AM_SERVICE: &str = "service";
/// Alertmanager label: the chatobs rule.
pub const AM_RULE: &str = "rule";
/// Alertmanager annotation: the conversation (kept out of the label space).
pub const AM_SESSION_ID: &str = "session_id";

// ---- metrics (Prometheus names; see chatobs-metrics) ------------------------------------
/// Prefix of every chatobs metric that is not a GenAI convention metric.
pub const METRIC_PREFIX: &str = "chatobs_";
/// `gen_ai.client.token.usage` as Prometheus spells it.
pub const PROM_GEN_AI_TOKEN_USAGE: &str = "gen_ai_client_token_usage";
/// `gen_ai.client.operation.duration` as Prometheus spells it (unit suffix added).
pub const PROM_GEN_AI_OPERATION_DURATION: &str = "gen_ai_client_operation_duration_seconds";
/// LLM cost by provider and model (USD).
pub const PROM_LLM_COST: &str = "chatobs_llm_cost_usd_total";
/// WhatsApp cost by market, category and pricing type (USD).
pub const PROM_WHATSAPP_COST: &str = "chatobs_whatsapp_cost_usd_total";
/// USD by which reconciliations lowered WhatsApp estimates.
pub const PROM_WHATSAPP_OVERESTIMATE: &str = "chatobs_whatsapp_cost_overestimate_usd_total";
/// OpenTelemetry name of the LLM cost counter (OTLP).
pub const METRIC_LLM_COST: &str = "chatobs.llm.cost";
/// OpenTelemetry name of the per-call cost histogram (OTLP).
pub const METRIC_LLM_CALL_COST: &str = "chatobs.llm.call.cost";
/// OpenTelemetry name of the WhatsApp cost counter (OTLP).
pub const METRIC_WHATSAPP_COST: &str = "chatobs.whatsapp.cost";
/// OpenTelemetry name of the span duration histogram (OTLP).
pub const METRIC_SPAN_DURATION: &str = "chatobs.span.duration";
/// OpenTelemetry name of the span error counter (OTLP).
pub const METRIC_SPAN_ERRORS: &str = "chatobs.span.errors";
/// OpenTelemetry name of the dropped span counter (OTLP).
pub const METRIC_SPANS_DROPPED: &str = "chatobs.spans.dropped";
/// OpenTelemetry name of the fired alert counter (OTLP).
pub const METRIC_ALERTS_FIRED: &str = "chatobs.alerts.fired";
/// WhatsApp messages priced, by market, category and pricing type.
pub const PROM_WHATSAPP_MESSAGES: &str = "chatobs_whatsapp_messages_total";
/// Per-call LLM cost histogram (a bucket boundary at each per-call threshold).
pub const PROM_LLM_CALL_COST: &str = "chatobs_llm_call_cost_usd";
/// Conversations that crossed a per-conversation budget, by rule.
pub const PROM_CONVERSATIONS_OVER_BUDGET: &str = "chatobs_conversations_over_budget_total";
/// Span duration by role and step.
pub const PROM_SPAN_DURATION: &str = "chatobs_span_duration_seconds";
/// Spans by role.
pub const PROM_SPANS: &str = "chatobs_spans_total";
/// Spans that ended in error, by role.
pub const PROM_SPAN_ERRORS: &str = "chatobs_span_errors_total";
/// Conversation turns (local root spans of a conversation), by outcome.
pub const PROM_TURNS: &str = "chatobs_turns_total";
/// Conversation turn duration.
pub const PROM_TURN_DURATION: &str = "chatobs_turn_duration_seconds";
/// Alerts fired in process, by rule and severity.
pub const PROM_ALERTS_FIRED: &str = "chatobs_alerts_fired_total";
/// Alerts delivered, by sink.
pub const PROM_ALERT_DELIVERIES: &str = "chatobs_alert_deliveries_total";
/// Alert deliveries that failed after every retry, by sink.
pub const PROM_ALERT_SINK_FAILURES: &str = "chatobs_alert_sink_failures_total";
/// Alerts dropped because a sink's queue was full, by sink.
pub const PROM_ALERTS_DROPPED: &str = "chatobs_alerts_dropped_total";
/// Spans dropped by the exporter (queue full or pipeline closed).
pub const PROM_SPANS_DROPPED: &str = "chatobs_spans_dropped_total";
/// Spans exported.
pub const PROM_SPANS_EXPORTED: &str = "chatobs_spans_exported_total";
/// Spans whose export failed.
pub const PROM_SPAN_EXPORT_FAILURES: &str = "chatobs_span_export_failures_total";
/// Spans waiting in the export queue.
pub const PROM_SPAN_QUEUE: &str = "chatobs_span_queue_spans";
/// Evaluation scores, by evaluator.
pub const PROM_EVAL_SCORE: &str = "chatobs_eval_score";
/// Evaluations that failed, by evaluator.
pub const PROM_EVAL_FAILURES: &str = "chatobs_eval_failures_total";
/// Series folded into the overflow series because a metric hit its series limit.
pub const PROM_SERIES_OVERFLOW: &str = "chatobs_metric_series_overflow_total";
/// Prometheus: telemetry chatobs dropped or failed to deliver, by `what`.
pub const PROM_TELEMETRY_DROPPED: &str = "chatobs_telemetry_dropped_total";
/// Conversations opened, by channel.
pub const PROM_CONVERSATIONS_OPENED: &str = "chatobs_conversations_opened_total";
/// Conversations with a message in the last 30 minutes.
pub const PROM_CONVERSATIONS_ACTIVE: &str = "chatobs_conversations_active";
/// Conversations closed.
pub const PROM_CONVERSATIONS_CLOSED: &str = "chatobs_conversations_closed_total";
/// Messages, by direction, channel and type.
pub const PROM_MESSAGES: &str = "chatobs_messages_total";
/// Seconds from a user's message to the bot's next message.
pub const PROM_FIRST_RESPONSE: &str = "chatobs_first_response_seconds";
/// Seconds from a conversation's first message to its close.
pub const PROM_RESOLUTION: &str = "chatobs_resolution_seconds";
/// Handoffs, by from and to.
pub const PROM_HANDOFFS: &str = "chatobs_handoffs_total";
/// Outbound HTTP requests' duration (`http.client.request.duration`), by host and status.
pub const PROM_HTTP_CLIENT_DURATION: &str = "http_client_request_duration_seconds";
/// Prometheus label: message direction (`inbound`, `outbound`).
pub const PL_DIRECTION: &str = "direction";
/// Prometheus label: channel (`whatsapp`).
pub const PL_CHANNEL: &str = "channel";
/// Prometheus label: message type (`text`, `interactive`, template category).
pub const PL_MESSAGE_TYPE: &str = "message_type";
/// Prometheus label: handoff origin role.
pub const PL_HANDOFF_FROM: &str = "from";
/// Prometheus label: handoff target role.
pub const PL_HANDOFF_TO: &str = "to";
/// Prometheus label: the server a client request went to.
pub const PL_SERVER_ADDRESS: &str = "server_address";
/// LLM calls that failed, by provider and error type (fed by every LLM span).
pub const PROM_LLM_ERRORS: &str = "chatobs_llm_errors_total";
/// The HTTP server duration histogram (`http.server.request.duration`).
pub const PROM_HTTP_SERVER_DURATION: &str = "http_server_request_duration_seconds";
/// Prometheus label: the HTTP route template.
pub const PL_HTTP_ROUTE: &str = "http_route";
/// Prometheus label: the HTTP response status code.
pub const PL_HTTP_STATUS: &str = "http_response_status_code";
/// LLM calls recorded without a complete price (unknown model, a component
/// without a price, a figure that overflowed, or no usage in the answer).
pub const PROM_LLM_PRICE_UNKNOWN: &str = "chatobs_llm_price_unknown_total";
/// Errors Meta reported in webhooks and Graph API answers, by code and scope.
pub const PROM_WHATSAPP_ERRORS: &str = "chatobs_whatsapp_errors_total";
/// Label value used when a metric has too many series (OpenTelemetry's overflow idea).
pub const LABEL_OVERFLOW: &str = "_overflow";
/// Label value for a missing attribute (no role, no step, no market).
pub const LABEL_NONE: &str = "none";
/// Prometheus label: `gen_ai.token.type`.
pub const PL_TOKEN_TYPE: &str = "gen_ai_token_type";
/// Prometheus label: `gen_ai.operation.name`.
pub const PL_OPERATION: &str = "gen_ai_operation_name";
/// Prometheus label: `gen_ai.provider.name`.
pub const PL_PROVIDER: &str = "gen_ai_provider_name";
/// Prometheus label: `gen_ai.request.model`.
pub const PL_MODEL: &str = "gen_ai_request_model";
/// Prometheus label: `error.type`.
pub const PL_ERROR_TYPE: &str = "error_type";
/// Prometheus label: `agent.role`.
pub const PL_ROLE: &str = "agent_role";
/// Prometheus label: `conversation.step`.
pub const PL_STEP: &str = "conversation_step";
/// Prometheus label: WhatsApp market.
pub const PL_MARKET: &str = "market";
/// Prometheus label: WhatsApp pricing category.
pub const PL_CATEGORY: &str = "category";
/// Prometheus label: WhatsApp pricing type.
pub const PL_PRICING_TYPE: &str = "pricing_type";
/// Prometheus label: the alert rule.
pub const PL_RULE: &str = "rule";
/// Prometheus label: the alert severity.
pub const PL_SEVERITY: &str = "severity";
/// Prometheus label: the alert sink (`log`, `webhook`, `alertmanager`).
pub const PL_SINK: &str = "sink";
/// Prometheus label: a turn's outcome (`ok`, `error`).
pub const PL_OUTCOME: &str = "outcome";
/// Prometheus label: the evaluator.
pub const PL_EVALUATOR: &str = "evaluator";
/// Prometheus label: the metric that overflowed.
pub const PL_METRIC: &str = "metric";
/// Prometheus label: what was dropped (`log_lines`, `otlp_log_records`,
/// `bridge_attributes`, `bridge_events`, `bridge_links`, `custom_attributes`).
pub const PL_WHAT: &str = "what";
/// Prometheus label: Meta's error code.
pub const PL_CODE: &str = "code";
/// Prometheus label: where Meta reported an error (`webhook`, `message`, `status`, `send`).
pub const PL_SCOPE: &str = "scope";
/// Prometheus label: why a price is incomplete (`no_price`, `overflow`, `usage_missing`).
pub const PL_REASON: &str = "reason";

/// `1.0` as `1`, `0.05` as `0.05`: the `le` spelling Prometheus' own clients use,
/// so rules can name a bucket exactly.
/// (Shared by the metrics registry and the generated Prometheus rules.)
pub fn format_float(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}

// ---- resource ------------------------------------------------------------------------
/// Resource: service name.
pub const SERVICE_NAME: &str = "service.name";
/// Resource: service version.
pub const SERVICE_VERSION: &str = "service.version";
/// Resource: deployment environment.
pub const DEPLOYMENT_ENVIRONMENT: &str = "deployment.environment";

/// The attribute keys a bot may set on the current span with `record!` (re-exported by `chatobs-runtime`).
///
/// Each variant maps to one key of this module; the macro names them in
/// snake case (`record!(step = "pay")`, `record!(template_category = Marketing)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Key {
    /// [`CONVERSATION_STEP`]
    Step,
    /// [`AGENT_ROLE`]
    Role,
    /// [`TEMPLATE_CATEGORY`]
    TemplateCategory,
    /// [`TAG_TAGS`] and [`LOGFIRE_TAGS`] (appends)
    Tag,
    /// [`GEN_AI_REQUEST_MODEL`]
    RequestModel,
    /// [`GEN_AI_RESPONSE_MODEL`]
    ResponseModel,
    /// [`GEN_AI_PROVIDER_NAME`]
    Provider,
}

impl Key {
    /// The exported attribute key.
    pub const fn as_str(self) -> &'static str {
        match self {
            Key::Step => CONVERSATION_STEP,
            Key::Role => AGENT_ROLE,
            Key::TemplateCategory => TEMPLATE_CATEGORY,
            Key::Tag => TAG_TAGS,
            Key::RequestModel => GEN_AI_REQUEST_MODEL,
            Key::ResponseModel => GEN_AI_RESPONSE_MODEL,
            Key::Provider => GEN_AI_PROVIDER_NAME,
        }
    }
}

/// WhatsApp template (pricing) category.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum TemplateCategory {
    /// Promotions, offers, re-engagement.
    Marketing,
    /// Order and account updates.
    Utility,
    /// One-time passwords.
    Authentication,
    /// Free-form replies to the user (customer service).
    Service,
}

impl TemplateCategory {
    /// Every category, in the order Meta's rate card lists them.
    pub const ALL: [TemplateCategory; 4] = [
        TemplateCategory::Marketing,
        TemplateCategory::Utility,
        TemplateCategory::Authentication,
        TemplateCategory::Service,
    ];
    /// The exported value.
    pub const fn as_str(self) -> &'static str {
        match self {
            TemplateCategory::Marketing => "marketing",
            TemplateCategory::Utility => "utility",
            TemplateCategory::Authentication => "authentication",
            TemplateCategory::Service => "service",
        }
    }
    /// Parses the exported value.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
    /// The variant's name in Rust (what `#[chat_span]` generates).
    pub const fn variant_name(self) -> &'static str {
        match self {
            TemplateCategory::Marketing => "Marketing",
            TemplateCategory::Utility => "Utility",
            TemplateCategory::Authentication => "Authentication",
            TemplateCategory::Service => "Service",
        }
    }
}

/// OpenInference span kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// A call to a language model.
    Llm,
    /// A step that links others (classifier, orchestrator).
    Chain,
    /// An agent's flow.
    Agent,
    /// A tool call.
    Tool,
    /// An evaluation of another span.
    Evaluator,
    /// A retrieval.
    Retriever,
    /// An embedding call.
    Embedding,
    /// A guardrail check.
    Guardrail,
    /// A reranker.
    Reranker,
    /// A prompt (template rendering).
    Prompt,
    /// Anything else.
    Unknown,
}

impl SpanKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [SpanKind; 11] = [
        SpanKind::Llm,
        SpanKind::Chain,
        SpanKind::Agent,
        SpanKind::Tool,
        SpanKind::Evaluator,
        SpanKind::Retriever,
        SpanKind::Embedding,
        SpanKind::Guardrail,
        SpanKind::Reranker,
        SpanKind::Prompt,
        SpanKind::Unknown,
    ];
    /// The kind a span without `kind = ...` carries, so a backend never shows
    /// it as UNKNOWN: an LLM call (a span with `gen_ai.operation.name`) is
    /// `LLM`; otherwise by role: agents (`sales`, `pqr`, `support`,
    /// `operator`) `AGENT`, `tool` `TOOL`, `retriever` `RETRIEVER`,
    /// `evaluator` `EVALUATOR`, and every other step (classifier,
    /// orchestrator, gateway, handoff, your own roles, no role) `CHAIN`.
    pub fn default_for(role: Option<Role>, genai: bool) -> SpanKind {
        if genai {
            return SpanKind::Llm;
        }
        match role {
            Some(r)
                if r == Role::SALES
                    || r == Role::PQR
                    || r == Role::SUPPORT
                    || r == Role::OPERATOR =>
            {
                SpanKind::Agent
            }
            Some(r) if r == Role::TOOL => SpanKind::Tool,
            Some(r) if r == Role::RETRIEVER => SpanKind::Retriever,
            Some(r) if r == Role::EVALUATOR => SpanKind::Evaluator,
            _ => SpanKind::Chain,
        }
    }
    /// How `#[chat_span(kind = ...)]` writes it (lower case).
    pub const fn written(self) -> &'static str {
        match self {
            SpanKind::Llm => "llm",
            SpanKind::Chain => "chain",
            SpanKind::Agent => "agent",
            SpanKind::Tool => "tool",
            SpanKind::Evaluator => "evaluator",
            SpanKind::Retriever => "retriever",
            SpanKind::Embedding => "embedding",
            SpanKind::Guardrail => "guardrail",
            SpanKind::Reranker => "reranker",
            SpanKind::Prompt => "prompt",
            SpanKind::Unknown => "unknown",
        }
    }
    /// The variant's name in Rust (what `#[chat_span]` generates).
    pub const fn variant_name(self) -> &'static str {
        match self {
            SpanKind::Llm => "Llm",
            SpanKind::Chain => "Chain",
            SpanKind::Agent => "Agent",
            SpanKind::Tool => "Tool",
            SpanKind::Evaluator => "Evaluator",
            SpanKind::Retriever => "Retriever",
            SpanKind::Embedding => "Embedding",
            SpanKind::Guardrail => "Guardrail",
            SpanKind::Reranker => "Reranker",
            SpanKind::Prompt => "Prompt",
            SpanKind::Unknown => "Unknown",
        }
    }
    /// The exported value (OpenInference spells them in capitals).
    pub const fn as_str(self) -> &'static str {
        match self {
            SpanKind::Llm => "LLM",
            SpanKind::Chain => "CHAIN",
            SpanKind::Agent => "AGENT",
            SpanKind::Tool => "TOOL",
            SpanKind::Evaluator => "EVALUATOR",
            SpanKind::Retriever => "RETRIEVER",
            SpanKind::Embedding => "EMBEDDING",
            SpanKind::Guardrail => "GUARDRAIL",
            SpanKind::Reranker => "RERANKER",
            SpanKind::Prompt => "PROMPT",
            SpanKind::Unknown => "UNKNOWN",
        }
    }
}

/// An agent role.
///
/// Roles are a closed set checked at compile time. The built-in roles are
/// listed in [`Role::BUILTIN`] and may be written as string literals in
/// `#[chat_span(role = "sales")]`; a literal outside that list does not
/// compile. Your own roles are declared once with [`crate::roles!`] and used
/// as paths (`role = roles::LEAD_BOT`), which the compiler resolves, so a typo
/// there does not compile either.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Role(&'static str);

impl Role {
    /// Routes an inbound message to an intent.
    pub const CLASSIFIER: Role = Role("classifier");
    /// Decides which agent answers.
    pub const ORCHESTRATOR: Role = Role("orchestrator");
    /// Sales agent.
    pub const SALES: Role = Role("sales");
    /// Complaints (peticiones, quejas, reclamos) agent.
    pub const PQR: Role = Role("pqr");
    /// Customer support agent.
    pub const SUPPORT: Role = Role("support");
    /// Webhook / channel gateway.
    pub const GATEWAY: Role = Role("gateway");
    /// Retrieval step.
    pub const RETRIEVER: Role = Role("retriever");
    /// Tool execution.
    pub const TOOL: Role = Role("tool");
    /// Evaluation judge.
    pub const EVALUATOR: Role = Role("evaluator");
    /// Hand-off between bots.
    pub const HANDOFF: Role = Role("handoff");
    /// A human operator.
    pub const OPERATOR: Role = Role("operator");

    /// The built-in roles, by their string names (what `role = "..."` accepts).
    pub const BUILTIN: [Role; 11] = [
        Role::CLASSIFIER,
        Role::ORCHESTRATOR,
        Role::SALES,
        Role::PQR,
        Role::SUPPORT,
        Role::GATEWAY,
        Role::RETRIEVER,
        Role::TOOL,
        Role::EVALUATOR,
        Role::HANDOFF,
        Role::OPERATOR,
    ];

    /// Declares a role of your own. Prefer [`crate::roles!`], which calls this
    /// in a `const` so a bad name fails to compile: a role name is 1 to 64
    /// characters of `a-z`, `0-9`, `_`, `-` or `.` (it becomes a metric label).
    pub const fn custom(name: &'static str) -> Role {
        let b = name.as_bytes();
        assert!(
            !b.is_empty() && b.len() <= 64,
            "a role name has 1 to 64 characters"
        );
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            assert!(
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-' || c == b'.',
                "a role name uses only a-z, 0-9, '_', '-' and '.'"
            );
            i += 1;
        }
        Role(name)
    }

    /// The exported value.
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Declares your own roles, as constants the compiler checks.
///
/// `chatobs_runtime` re-exports it; pass the constants to
/// `#[chat_span(role = roles::LEAD_BOT)]`.
///
/// ```
/// pub mod roles {
///     chatobs_vocab::roles!(LEAD_BOT = "lead_bot", BUYER_BOT = "buyer_bot");
/// }
/// assert_eq!(roles::LEAD_BOT.as_str(), "lead_bot");
/// ```
#[macro_export]
macro_rules! roles {
    ($($(#[$m:meta])* $name:ident = $value:literal),+ $(,)?) => {
        $( $(#[$m])* pub const $name: $crate::Role = { const R: $crate::Role = $crate::Role::custom($value); R }; )+
    };
}

/// The message an inbound WhatsApp message refers to (the reply's `context.id`, the
/// message a reaction is about), as the keyed hash of its wamid (wamids encode the
/// user's number; the same hash as that message's `messaging.message.id`).
pub const MESSAGING_WHATSAPP_CONTEXT_MESSAGE_ID: &str = "messaging.whatsapp.context.message.id";

// ---- why a cost is incomplete (chatobs-cost) ----------------------------------------
/// Why the call's price is incomplete (with `gen_ai.usage.price_unknown`):
/// comma-separated `no_price:<component>` and `overflow:<figure>`.
pub const GEN_AI_USAGE_PRICE_INCOMPLETE_REASON: &str = "gen_ai.usage.price_incomplete_reason";
/// The answer carried no usage (a stream cut before its usage chunk, an
/// OpenAI stream without `stream_options.include_usage`): the call's cost
/// is unknown and the conversation total is incomplete.
pub const GEN_AI_USAGE_MISSING: &str = "gen_ai.usage.missing";
/// On an LLM library's own GenAI span: the call was priced on its child
/// CLIENT span (chatobs' HTTP instrumentation), so not again here.
pub const GEN_AI_USAGE_PRICED_BY_CHILD: &str = "gen_ai.usage.priced_by_child";
/// The provider blocked the prompt (Gemini `promptFeedback.blockReason`,
/// such as `SAFETY`): the call produced no answer.
pub const GEN_AI_RESPONSE_BLOCK_REASON: &str = "gen_ai.response.block_reason";
/// The provider's error type or status (`RESOURCE_EXHAUSTED`,
/// `rate_limit_error`, `invalid_request_error`, ...), bounded.
pub const GEN_AI_ERROR_TYPE: &str = "gen_ai.error.type";
/// The provider's error code (`rate_limit_exceeded`, `429`, ...), bounded.
pub const GEN_AI_ERROR_CODE: &str = "gen_ai.error.code";
/// Seconds the provider asked to wait before retrying (Gemini `RetryInfo`,
/// a `retry-after` header).
pub const GEN_AI_ERROR_RETRY_AFTER: &str = "gen_ai.error.retry_after_seconds";
/// Why a reconciliation could not be applied exactly (`overflow:difference`).
pub const MESSAGING_WHATSAPP_PRICE_INCOMPLETE_REASON: &str =
    "messaging.whatsapp.price_incomplete_reason";
/// Why the conversation's running total is incomplete (comma-separated reasons).
pub const CHAT_SESSION_COST_INCOMPLETE_REASON: &str = "chat.session.cost_incomplete_reason";

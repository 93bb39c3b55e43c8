//! The vocabulary: every attribute key, event name and closed set chatobs writes.
//!
//! This is the one place where a key is spelled as a string. Everything else in
//! chatobs (and in your code, through [`crate::record!`]) refers to these
//! constants, so a typo is a compile error rather than a silently missing
//! attribute in Phoenix, Langfuse or Logfire.
//!
//! The conversation identity is written under three names because the
//! backends read different ones: [`CHAT_SESSION_ID`] (chatobs, the seed),
//! [`SESSION_ID`] (Phoenix / OpenInference, Langfuse) and
//! [`GEN_AI_CONVERSATION_ID`] (OpenTelemetry GenAI, Langfuse fallback).

/// Instrumentation scope name used on every exported span.
pub const SCOPE_NAME: &str = "chatobs";

// ---- conversation identity -------------------------------------------------
/// The conversation id (keyed hash of the user's identity).
pub const CHAT_SESSION_ID: &str = "chat.session_id";
/// The same id under the OpenInference / Langfuse name.
pub const SESSION_ID: &str = "session.id";
/// The same id under the OpenTelemetry GenAI name.
pub const GEN_AI_CONVERSATION_ID: &str = "gen_ai.conversation.id";

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

// ---- resource ------------------------------------------------------------------------
/// Resource: service name.
pub const SERVICE_NAME: &str = "service.name";
/// Resource: service version.
pub const SERVICE_VERSION: &str = "service.version";
/// Resource: deployment environment.
pub const DEPLOYMENT_ENVIRONMENT: &str = "deployment.environment";

/// The attribute keys a bot may set on the current span with [`crate::record!`].
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
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
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
/// ```
/// pub mod roles {
///     chatobs_runtime::roles!(LEAD_BOT = "lead_bot", BUYER_BOT = "buyer_bot");
/// }
/// #[chatobs_runtime::chat_span(role = roles::LEAD_BOT)]
/// fn qualify() {}
/// # qualify();
/// ```
#[macro_export]
macro_rules! roles {
    ($($(#[$m:meta])* $name:ident = $value:literal),+ $(,)?) => {
        $( $(#[$m])* pub const $name: $crate::Role = { const R: $crate::Role = $crate::Role::custom($value); R }; )+
    };
}

//! The `#[chat_span]` attribute of chatobs.
//!
//! Use it through `chatobs_runtime::chat_span`: the expansion calls
//! `chatobs_runtime::__private`, and the runtime pins this crate to its exact
//! version. The crate works in three passes, like `serde_derive` and
//! `thiserror`: `attr.rs` parses the arguments into a typed model (the closed
//! sets come from `chatobs_vocab`, the vocabulary the runtime writes),
//! `validate.rs` checks the whole model against the item and reports every
//! error at its token, and `expand.rs` generates the code. This file holds the
//! entry point and the documentation.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate proc_macro;

use proc_macro2::TokenStream;
use quote::quote;

mod attr;
mod event;
mod expand;
mod strip;
#[cfg(test)]
mod tests;
mod validate;

/// Instruments a function (or every method of an `impl` block) with a chat span.
///
/// Each call yields one span carrying the chat attributes (`agent.role`,
/// `conversation.step`, `template_category`, tags, `openinference.span.kind`,
/// the conversation's session id, ...). A returned `Err` sets the span's status
/// to error; a panic is recorded before it unwinds. Nothing is captured from the
/// arguments unless you ask for it with `capture(...)`.
///
/// ```ignore
/// use chatobs_runtime::chat_span;
///
/// #[chat_span(name = "classifier.predict", role = "classifier", kind = chain)]
/// fn predict(text: &str) -> Intent { /* ... */ }
///
/// #[chat_span(name = "agent.sales.flow", role = "sales", step = state.step(),
///             tags("checkout", "vip"), template_category = marketing)]
/// async fn sales_flow(state: &mut State, msg: &Inbound) -> Result<Reply, BotError> { /* ... */ }
/// ```
///
/// # Options
///
/// Options are separated by commas and may come in any order; each may appear
/// once. All of them are checked at compile time: an unknown option (with a
/// "did you mean" suggestion), a duplicate, a value of the wrong kind, a value
/// outside a closed set, or `capture` of a name that is not a parameter is a
/// compile error at the offending token, and every error of an attribute is
/// reported at once.
///
/// ## `name = "literal"`
///
/// The span name. Defaults to the function's name; for a method expanded through
/// an annotated `impl` block, to `<Type>.<method>`.
///
/// ```ignore
/// #[chat_span(name = "orchestrator.decision")]
/// fn decide(intent: Intent) -> Route { /* ... */ }
/// ```
///
/// ## `role = "builtin"` or `role = path::TO_ROLE`
///
/// The agent role (`agent.role`). A string literal must be one of the built-in
/// roles: `classifier`, `orchestrator`, `sales`, `pqr`, `support`, `gateway`,
/// `retriever`, `tool`, `evaluator`, `handoff`, `operator`; anything else does not
/// compile (`role = "salse"` suggests `sales`). Your own roles are declared once
/// with `chatobs_runtime::roles!` and passed as a path, which rustc resolves, so
/// a typo there fails to compile too.
///
/// ```ignore
/// pub mod roles {
///     chatobs_runtime::roles!(LEAD_BOT = "lead_bot");
/// }
///
/// #[chat_span(role = "sales")]
/// fn offer() {}
///
/// #[chat_span(role = roles::LEAD_BOT)]
/// fn qualify() {}
/// ```
///
/// ## `step = "literal"` or `step = <expression>`
///
/// The conversation step (`conversation.step`). A literal is stored as is; any
/// other expression is evaluated when the function is called, before the body
/// runs, and must implement `Display`. It may use the parameters.
///
/// ```ignore
/// #[chat_span(step = "checkout")]
/// fn checkout() {}
///
/// #[chat_span(step = state.step())]
/// fn advance(state: &mut State) {}
/// ```
///
/// ## `tags("a", "b", ...)`
///
/// String tags, exported as a string array (`tag.tags`, `logfire.tags`).
///
/// ```ignore
/// #[chat_span(tags("checkout", "vip"))]
/// fn pay() {}
/// ```
///
/// ## `template_category = marketing | utility | authentication | service`
///
/// The WhatsApp template (pricing) category of the message the function sends,
/// written as an identifier or a string.
///
/// ```ignore
/// #[chat_span(template_category = marketing)]
/// fn send_offer() {}
/// ```
///
/// ## `kind = llm | chain | agent | tool | evaluator | retriever | embedding | guardrail | reranker | prompt | unknown`
///
/// The OpenInference span kind (`openinference.span.kind`), as an identifier or
/// a string.
///
/// ```ignore
/// #[chat_span(kind = agent)]
/// fn sales_agent() {}
/// ```
///
/// ## `model = "literal"`, `provider = "literal"` (only with `kind = llm`)
///
/// The model asked for (`gen_ai.request.model`) and the provider
/// (`gen_ai.provider.name`) of an LLM call. Using them without `kind = llm` is a
/// compile error.
///
/// ```ignore
/// #[chat_span(kind = llm, model = "gemini-1.5-flash", provider = "gcp.gemini")]
/// async fn complete(prompt: &str) -> Result<String, LlmError> { /* ... */ }
/// ```
///
/// ## `session = <expression>`
///
/// Sets the conversation (a `chatobs_runtime::ChatSession`, or anything that
/// borrows as one) for this call and every span below it. Evaluated at call time.
///
/// ```ignore
/// #[chat_span(session = msg.session())]
/// async fn handle(msg: &Inbound) {}
/// ```
///
/// ## `capture(arg, ...)`
///
/// Records the named parameters (`Debug`) as `chat.arg.<name>`, redacted by the
/// runtime. Each name must be a parameter of the function; `self` is allowed.
///
/// ```ignore
/// #[chat_span(capture(text, lang))]
/// fn detect(text: &str, lang: Lang) -> Intent { /* ... */ }
/// ```
///
/// ## `fields(key = value, ...)`
///
/// Your own typed attributes, evaluated when the function is called (before
/// the body runs; they may use the parameters). A key is dotted lowercase
/// names (`lead.temperature`) or a string literal (`"user.id" = id`). The
/// keys are checked here: their syntax, that each appears once, and that none
/// is in a namespace chatobs writes itself (`chat.`, `gen_ai.`,
/// `conversation.`, `agent.`, `session.`, ...: those have their own options,
/// so `conversation.step = ...` is an error that says to write `step = ...`).
/// Each value's type is checked by rustc at the value: a string, `bool`,
/// integer, float, or a slice, array or `Vec` of those
/// (`chatobs_runtime::attrs::AttrValue`). Strings are redacted and every
/// value is bounded, as `chatobs_runtime::attrs` describes.
///
/// ```ignore
/// #[chat_span(role = "sales", fields(lead.temperature = score, intent.confidence = p, "user.id" = user))]
/// fn qualify(score: f64, p: f64, user: &str) {}
/// ```
///
/// In the body, `record!(lead.temperature = 0.8)` sets one on the current span.
///
/// ## `level = trace | debug | info | warn | error`
///
/// The span's level (default `info`), as an identifier or a string.
///
/// ```ignore
/// #[chat_span(level = debug)]
/// fn tokenize(text: &str) -> Vec<Token> { /* ... */ }
/// ```
///
/// ## `crate = path`
///
/// Where `chatobs_runtime` is, when you re-export it under another name.
///
/// ```ignore
/// #[chat_span(crate = my_bot::obs)]
/// fn predict() {}
/// ```
///
/// ## `skip`
///
/// Only inside an `impl` block annotated with `#[chat_span]`: the method gets no
/// span.
///
/// ```ignore
/// #[chat_span(role = "sales")]
/// impl SalesBot {
///     fn offer(&self) {}          // span "SalesBot.offer"
///     #[chat_span(skip)]
///     fn helper(&self) {}         // no span
/// }
/// ```
///
/// # Function shapes
///
/// The signature is re-emitted unchanged (rustdoc and IDEs show yours) and other
/// attributes (`#[must_use]`, doc comments, `#[cfg]`, ...) are kept. Supported:
/// sync fns, `async fn`, fns returning `impl Future` whose body ends in an
/// `async` block (the span covers the future, not its creation), async-trait
/// methods (a body ending in `Box::pin(async move { .. })`), methods taking
/// `self` / `&self` / `&mut self` / `self: Box<Self>`, generics, lifetimes,
/// `where` clauses, `impl Trait` arguments, `unsafe fn`, `extern "C" fn` and
/// functions in trait impls; a fn returning `!` ends its span when it unwinds. A
/// `const fn` cannot carry a span (compile error). The body runs inside a closure
/// (sync) or an async block, so `#[track_caller]` does not reach into the body.
///
/// # Impl blocks
///
/// On an `impl` block, every method gets a span named `<Type>.<method>` with the
/// block's options (`const fn`s are left alone). A method's own
/// `#[chat_span(...)]` inside the block is merged over the block's options (each
/// key it sets replaces the block's value) and removed; `#[chat_span(skip)]` opts
/// the method out. `name`, `capture` and `skip` belong to one method and are
/// compile errors on the block itself.
///
/// ```ignore
/// #[chat_span(role = "pqr", kind = agent)]
/// impl PqrBot {
///     async fn open_ticket(&self, msg: &Inbound) -> Result<Ticket, BotError> { /* ... */ }
///     #[chat_span(step = "close", capture(ticket))]
///     async fn close(&self, ticket: TicketId) {}
/// }
/// ```
///
/// # Errors in the body
///
/// The body is moved into the generated code with its own tokens, so rustc
/// reports your type errors on your lines. When the function does not parse, the
/// tokens are passed through unchanged (plus the attribute's errors, if any) so
/// that editors keep working.
///
/// # Off switch
///
/// With the runtime's `off` feature (this crate's `off`), the attribute still
/// checks its options (every error above is reported, at the same token), and
/// then returns the item unchanged (and strips `#[chat_span]` from the methods
/// of an annotated impl block): no code is generated. Values used only by the
/// attribute (a `session`, a `step` expression, a role constant) are then
/// unused, so `dead_code` / `unused` lints may fire in that build, and a role
/// path is not resolved.
#[proc_macro_attribute]
pub fn chat_span(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    chat_span_tokens(args.into(), item.into()).into()
}

/// What `#[chat_span]` does, on `proc_macro2` tokens: parse, validate, then
/// expand (with the `off` feature, return the item instead). An invalid
/// attribute yields its errors and the item, unexpanded, in both builds.
fn chat_span_tokens(args: TokenStream, item: TokenStream) -> TokenStream {
    match validate::validate(attr::Args::parse_tokens(args), &item) {
        Err(errors) => {
            let errors = errors.to_compile_error();
            let item = strip::strip_inner_attrs(item);
            quote!(#errors #item)
        }
        Ok(_) if cfg!(feature = "off") => strip::strip_inner_attrs(item),
        Ok(target) => expand::expand(target, item),
    }
}

/// Records a checked chat event on the current span, as a log line and as a counter.
///
/// ```ignore
/// use chatobs_runtime::chat_event;
///
/// chat_event!(message.received, channel = "whatsapp", message_type = "text", content = &text);
/// chat_event!(integration.failure, system = "crm", operation = "create_ticket",
///             duration_ms = 812.0, status_code = 503, error = "unavailable");
/// chat_event!(auth.logout);
/// ```
///
/// The first argument is the event's dotted name, then `field = value` pairs
/// separated by commas, in any order, each at most once, every one optional.
/// The name must be one of the closed vocabulary of
/// `chatobs_runtime::vocab::events` (`conversation.created|assigned|transferred|closed|reopened`,
/// `message.received|sent|delivered|failed`, `integration.request|success|failure|timeout`,
/// `ai.tool_called|tool_success|tool_denied|confirmation_required`,
/// `auth.login|logout|permission_denied`) and each field one the event allows;
/// anything else is a compile error at the name or the field, with the
/// nearest name suggested (`message.deliverd`: did you mean `message.delivered`?).
///
/// Each value's type is checked by rustc at the value: a text field takes
/// `&str`, `String` or `Cow<str>`, an `i64` field an integer (`i8` to `i64`,
/// `u8` to `u32`), an `f64` field a number (`f64`, `f32`, or an integer up
/// to 32 bits), a `bool` field a `bool`. A `content` field (message text)
/// takes text too, but only its length in characters is recorded, as
/// `content.length`: the text itself is never written anywhere. Values are
/// taken by reference (nothing is moved).
///
/// The event is written three ways: an event on the span recording on this
/// thread (named after the event, with `chat.event.name` and the fields),
/// one `INFO` log line (target `chatobs::event`), and, with the runtime's
/// `metrics` feature, the counter `chatobs_chat_events_total{event}`. Like
/// `tracing`'s macros, the values are evaluated only when something records
/// them (a recording span or an enabled log line); otherwise the macro costs
/// a thread-local read and an atomic load or two.
#[proc_macro]
pub fn chat_event(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    event::chat_event_tokens(input.into()).into()
}

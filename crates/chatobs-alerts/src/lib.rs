//! # Budgets and alerts: rules evaluated where the cost is recorded
//!
//! Rules live in `[alerts.rules.<name>]` (see `config/observability.toml`).
//! The shipped ones are the seed's: a single LLM call costing more than
//! $0.05 (`llm_call_cost`, on `gen_ai.usage.price_usd`) and a conversation
//! whose total, LLM + WhatsApp, exceeds $1.00 (`conversation_budget`). Add
//! your own on the same quantities ([`Quantity`]): WhatsApp spend or LLM spend
//! per conversation, tokens per call, an evaluation's score below a threshold.
//!
//! ```
//! use chatobs_runtime::{alerts, cost, ChatSession, Config};
//! let cfg = Config::from_toml_str(r#"
//! [alerts.rules.whatsapp_spend]
//! quantity = "conversation_whatsapp_cost_usd"
//! above = 0.50
//! "#, None).unwrap();
//! let engine = alerts::install(alerts::AlertEngine::from_config(&cfg.alerts, &cfg.service.name).unwrap());
//!
//! let session = ChatSession::from_exported_id("doc-alerts-conversation").unwrap();
//! session.in_scope(|| {
//!     // 1 000 000 output tokens of gpt-4o: $10, above $0.05 and above $1.00.
//!     cost::record_llm_call(&cost::LlmCall::new("gpt-4o").provider("openai").output_tokens(1_000_000)).unwrap();
//!     cost::record_llm_call(&cost::LlmCall::new("gpt-4o").provider("openai").output_tokens(10)).unwrap();
//! });
//! let fired: Vec<_> = engine.recent().into_iter()
//!     .filter(|a| a.session_id.as_deref() == Some("doc-alerts-conversation")).collect();
//! assert_eq!(fired.iter().filter(|a| a.rule == "llm_call_cost").count(), 1);
//! assert_eq!(fired.iter().filter(|a| a.rule == "conversation_budget").count(), 1); // once
//! # alerts::uninstall();
//! ```
//!
//! ## Where and how rules run
//!
//! [`install`] registers a cost listener ([`chatobs_cost::on_cost`]): every
//! LLM call, WhatsApp charge and reconciliation is checked on the caller's
//! thread right after it is recorded. The common case, no breach, compares a
//! few decimals: no lock, no allocation. A per-call rule fires for each
//! breaching call. A per-conversation rule fires when the conversation's
//! total first crosses the threshold: the ledger hands over the totals
//! before and after each record under its own lock, so exactly one record
//! crosses, even with concurrent calls of one conversation; a small bounded
//! set (taken only on a crossing) keeps a conversation that dips below
//! (a reconciliation refund) and crosses again from firing twice.
//!
//! ## What a fired alert is
//!
//! * a WARN log event `alert.fired` with `alert.rule`, `alert.threshold`,
//!   `alert.value`, `alert.exceeded_by`, `chat.session_id`, `trace_id`, `span_id`,
//!   `span_name` (the breaching span's name);
//! * a span event `alert.fired` on the breaching span;
//! * a count by rule (`chatobs_alerts_fired_total`, and
//!   `chatobs_conversations_over_budget_total` for per-conversation rules);
//! * a delivery to each sink: the log (always), a JSON webhook
//!   (`[alerts.webhook]`, `CHATOBS_ALERT_WEBHOOK_URL`, secret headers only from
//!   `CHATOBS_ALERT_WEBHOOK_HEADERS`), Alertmanager's `POST /api/v2/alerts`
//!   (`[alerts.alertmanager]`, `CHATOBS_ALERTMANAGER_URL`; labels `alertname`,
//!   `severity`, `service`, `rule`; the session id is an annotation so
//!   Alertmanager's label space stays bounded).
//!
//! Delivery runs on one thread per sink: a bounded queue (`try_send`, never
//! waits), batches, retries with exponential backoff and jitter, and drops
//! with a count when the queue is full. A dead sink never slows a
//! conversation; it shows up as `chatobs_alert_sink_failures_total`.

pub mod config;
pub mod rules;
mod sinks;

pub use config::{AlertsConfig, Quantity, RuleConfig, SloConfig};
pub use sinks::SinkStats;

use chatobs_core::context::Context;
use chatobs_core::ids::{SpanId, TraceId};
use chatobs_core::model::{KeyValue, Value};
use chatobs_core::vocab;
use chatobs_cost::{CostEvent, CostEventKind, Totals};
use rust_decimal::prelude::FromPrimitive;
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, SystemTime};

/// One fired alert.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// The rule's name.
    pub rule: String,
    /// Alertmanager's `alertname` (the rule in CamelCase).
    pub alertname: String,
    /// Severity.
    pub severity: String,
    /// The watched quantity.
    pub quantity: Quantity,
    /// The threshold.
    pub threshold: Decimal,
    /// The value that breached it.
    pub value: Decimal,
    /// How far past the threshold (always positive).
    pub exceeded_by: Decimal,
    /// The conversation.
    pub session_id: Option<String>,
    /// The breaching span's trace (hex).
    pub trace_id: Option<String>,
    /// The breaching span (hex).
    pub span_id: Option<String>,
    /// The breaching span's name (`agent.sales.flow`, `chat gemini-1.5-flash`),
    /// when it was the span running where the cost was recorded.
    pub span_name: Option<String>,
    /// The breaching span's role.
    pub role: Option<String>,
    /// The evaluator (evaluation rules).
    pub evaluator: Option<String>,
    /// `service.name`.
    pub service: String,
    /// One line for humans.
    pub summary: String,
    /// When it fired.
    pub at: SystemTime,
}

impl Alert {
    /// The JSON the webhook sink posts (one element of `alerts`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "rule": self.rule,
            "alertname": self.alertname,
            "severity": self.severity,
            "quantity": self.quantity.as_str(),
            "threshold": self.threshold.normalize().to_string(),
            "value": self.value.normalize().to_string(),
            "exceeded_by": self.exceeded_by.normalize().to_string(),
            "session_id": self.session_id,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "span_name": self.span_name,
            "role": self.role,
            "evaluator": self.evaluator,
            "service": self.service,
            "summary": self.summary,
            "at": rfc3339(self.at),
        })
    }
}

pub(crate) fn rfc3339(t: SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `llm_call_cost` → `LlmCallCost`: the `alertname` of a rule, here and in `chatobs rules`.
pub fn alertname(rule: &str) -> String {
    rule.split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

struct Rule {
    name: String,
    alertname: String,
    quantity: Quantity,
    above: Option<Decimal>,
    below: Option<Decimal>,
    evaluator: Option<String>,
    severity: String,
    summary: Option<String>,
    fired: AtomicU64,
}

/// Counters of one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleStats {
    /// The rule.
    pub rule: String,
    /// Its severity.
    pub severity: String,
    /// Whether it fires once per conversation.
    pub per_conversation: bool,
    /// Times it fired (for a per-conversation rule: conversations over budget).
    pub fired: u64,
}

/// Per-conversation rules that already fired, bounded (oldest forgotten first).
#[derive(Default)]
struct Fired {
    by_session: HashMap<String, Vec<usize>>,
    order: VecDeque<String>,
}

const RECENT: usize = 1000;

/// The rules and sinks in use.
pub struct AlertEngine {
    service: String,
    rules: Vec<Rule>,
    max_conversations: usize,
    fired: Mutex<Fired>,
    recent: Mutex<VecDeque<Alert>>,
    sinks: Vec<sinks::Sink>,
    log_stats: Arc<SinkStats>,
}

impl std::fmt::Debug for AlertEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertEngine")
            .field(
                "rules",
                &self.rules.iter().map(|r| &r.name).collect::<Vec<_>>(),
            )
            .field(
                "sinks",
                &self.sinks.iter().map(|s| s.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl AlertEngine {
    /// The engine `[alerts]` describes for service `service` (its sinks' threads start now).
    pub fn from_config(
        a: &AlertsConfig,
        service: &str,
    ) -> Result<AlertEngine, chatobs_core::Error> {
        a.validate(false)?;
        let rules = a
            .enabled_rules()
            .map(|(name, r)| Rule {
                name: name.to_owned(),
                alertname: alertname(name),
                quantity: r.quantity,
                above: r.above,
                below: r.below,
                evaluator: r.evaluator.clone(),
                severity: a.severity_of(r).to_owned(),
                summary: r.summary.clone(),
                fired: AtomicU64::new(0),
            })
            .collect();
        let mut s = Vec::new();
        if !a.webhook.url.is_empty() {
            s.push(sinks::Sink::start(
                "webhook",
                sinks::Target::Webhook {
                    url: a.webhook.url.clone(),
                    headers: a.webhook.headers.clone(),
                    service: service.to_owned(),
                },
                &a.delivery,
            )?);
        }
        if !a.alertmanager.url.is_empty() {
            s.push(sinks::Sink::start(
                "alertmanager",
                sinks::Target::Alertmanager {
                    url: format!("{}/api/v2/alerts", a.alertmanager.url.trim_end_matches('/')),
                },
                &a.delivery,
            )?);
        }
        Ok(AlertEngine {
            service: service.to_owned(),
            rules,
            max_conversations: a.max_conversations,
            fired: Mutex::new(Fired::default()),
            recent: Mutex::new(VecDeque::new()),
            sinks: s,
            log_stats: Arc::new(SinkStats::default()),
        })
    }

    /// Checks one cost event against the rules (what the cost listener does).
    pub fn observe_cost(&self, ev: &CostEvent<'_>) {
        match &ev.kind {
            CostEventKind::LlmCall { cost, usage, .. } => {
                for (i, r) in self.rules.iter().enumerate() {
                    let v = match r.quantity {
                        Quantity::LlmCallCostUsd => cost.total,
                        Quantity::LlmCallTokens => {
                            Decimal::from(usage.input_tokens.saturating_add(usage.output_tokens))
                        }
                        _ => continue,
                    };
                    if let Some(t) = r.above {
                        if v > t {
                            self.fire(i, v, t, ev.session.map(|s| s.id()), Ids::of(ev), None);
                        }
                    }
                }
                self.check_conversation(ev);
            }
            CostEventKind::WhatsApp { .. }
            | CostEventKind::Reconciled { .. }
            | CostEventKind::SharedTotals => self.check_conversation(ev),
            CostEventKind::Closed { .. } => {
                if let Some(s) = ev.session {
                    let mut f = self.fired.lock().unwrap_or_else(|e| e.into_inner());
                    f.by_session.remove(s.id());
                }
            }
            _ => {}
        }
    }

    fn check_conversation(&self, ev: &CostEvent<'_>) {
        let (Some((before, after)), Some(session)) = (ev.totals, ev.session) else {
            return;
        };
        for (i, r) in self.rules.iter().enumerate() {
            let pick = |t: &Totals| match r.quantity {
                Quantity::ConversationCostUsd => Some(t.total_usd()),
                Quantity::ConversationLlmCostUsd => Some(t.llm_usd),
                Quantity::ConversationWhatsappCostUsd => Some(t.whatsapp_usd),
                _ => None,
            };
            let (Some(b), Some(a), Some(t)) = (pick(before), pick(after), r.above) else {
                continue;
            };
            // Only the record that crosses the line goes further (no lock before this).
            if !(b <= t && a > t) {
                continue;
            }
            {
                let mut f = self.fired.lock().unwrap_or_else(|e| e.into_inner());
                let f = &mut *f;
                if let Some(v) = f.by_session.get_mut(session.id()) {
                    if v.contains(&i) {
                        continue;
                    }
                    v.push(i);
                } else {
                    if f.by_session.len() >= self.max_conversations {
                        while let Some(old) = f.order.pop_front() {
                            if f.by_session.remove(&old).is_some() {
                                break;
                            }
                        }
                    }
                    f.by_session.insert(session.id().to_owned(), vec![i]);
                    f.order.push_back(session.id().to_owned());
                    if f.order.len() > 2 * self.max_conversations {
                        let live = &f.by_session;
                        f.order.retain(|k| live.contains_key(k));
                    }
                }
            }
            // Shared across processes: the store's once-flag decides, so the
            // alert fires once even when an addition is replayed after an
            // outage (and its crossing seen twice). Without an answer (the
            // store failed) this process fires: an alert is not dropped.
            if matches!(ev.kind, CostEventKind::SharedTotals) {
                if let (Some(store), Some(me)) = (
                    chatobs_cost::shared::shared(),
                    current().filter(|c| std::ptr::eq(*c, self)),
                ) {
                    let (sid, ids) = (session.id().to_owned(), Ids::of(ev));
                    store.claim_once_then(
                        session.id(),
                        &format!("alert:{}", r.name),
                        Box::new(move |won| {
                            if won.unwrap_or(true) {
                                me.fire(i, a, t, Some(&sid), ids, None);
                            }
                        }),
                    );
                    continue;
                }
            }
            self.fire(i, a, t, Some(session.id()), Ids::of(ev), None);
        }
    }

    /// Checks an evaluation score (the facade's evaluation hook calls it for each result, with or without metrics).
    pub fn observe_score(&self, evaluator: &str, score: f64, target: &Context) {
        let Some(v) = Decimal::from_f64(score) else {
            return;
        };
        for (i, r) in self.rules.iter().enumerate() {
            if r.quantity != Quantity::EvalScore || r.evaluator.as_deref() != Some(evaluator) {
                continue;
            }
            let breach = match (r.above, r.below) {
                (Some(t), _) if v > t => Some(t),
                (_, Some(t)) if v < t => Some(t),
                _ => None,
            };
            if let Some(t) = breach {
                let ids = Ids {
                    trace_id: target.trace_id,
                    span_id: target.span_id,
                    role: None,
                };
                self.fire(
                    i,
                    v,
                    t,
                    target.session.as_ref().map(|s| s.id()),
                    ids,
                    Some(evaluator),
                );
            }
        }
    }

    fn fire(
        &self,
        i: usize,
        value: Decimal,
        threshold: Decimal,
        session: Option<&str>,
        ids: Ids,
        evaluator: Option<&str>,
    ) {
        let r = &self.rules[i];
        r.fired.fetch_add(1, Ordering::Relaxed);
        // Saturates: a difference beyond Decimal's range (values near 7.9e28,
        // possible only with absurd prices) is reported as Decimal::MAX; the
        // value itself is reported exactly in `alert.value`.
        let exceeded_by = value
            .checked_sub(threshold)
            .map_or(Decimal::MAX, |d| d.abs());
        let trace_id =
            (ids.trace_id != TraceId::INVALID).then(|| format!("{:032x}", ids.trace_id.0));
        let span_id = (ids.span_id != SpanId::INVALID).then(|| format!("{:016x}", ids.span_id.0));
        // Named, not only numbered: the breaching span is the one running here.
        let span_name = (ids.span_id != SpanId::INVALID)
            .then(|| {
                chatobs_core::current::with(|s| {
                    (s.ids().1 == ids.span_id).then(|| s.name().to_owned())
                })
                .flatten()
            })
            .flatten();
        let summary = r
            .summary
            .clone()
            .unwrap_or_else(|| describe(r, value, threshold, exceeded_by));
        let alert = Alert {
            rule: r.name.clone(),
            alertname: r.alertname.clone(),
            severity: r.severity.clone(),
            quantity: r.quantity,
            threshold,
            value,
            exceeded_by,
            session_id: session.map(str::to_owned),
            trace_id,
            span_id,
            span_name,
            role: ids.role.map(|r| r.as_str().to_owned()),
            evaluator: evaluator.map(str::to_owned),
            service: self.service.clone(),
            summary,
            at: SystemTime::now(),
        };
        // 1. the log (always).
        let (thr, val, by) = (
            alert.threshold.normalize().to_string(),
            alert.value.normalize().to_string(),
            alert.exceeded_by.normalize().to_string(),
        );
        tracing::event!(
            target: "chatobs::alerts",
            tracing::Level::WARN,
            { vocab::ALERT_RULE } = alert.rule.as_str(),
            { vocab::ALERT_SEVERITY } = alert.severity.as_str(),
            { vocab::ALERT_QUANTITY } = alert.quantity.as_str(),
            { vocab::ALERT_THRESHOLD } = thr.as_str(),
            { vocab::ALERT_VALUE } = val.as_str(),
            { vocab::ALERT_EXCEEDED_BY } = by.as_str(),
            { vocab::CHAT_SESSION_ID } = alert.session_id.as_deref().unwrap_or(""),
            { vocab::LOG_TRACE_ID } = alert.trace_id.as_deref().unwrap_or(""),
            { vocab::LOG_SPAN_ID } = alert.span_id.as_deref().unwrap_or(""),
            span_name = alert.span_name.as_deref().unwrap_or(""),
            summary = alert.summary.as_str(),
            "alert.fired"
        );
        self.log_stats.delivered.fetch_add(1, Ordering::Relaxed);
        // 2. a span event on the breaching span (when it is the current one).
        if ids.span_id != SpanId::INVALID
            && chatobs_core::current::ids().is_some_and(|(_, s)| s == ids.span_id)
        {
            let attrs: Vec<KeyValue> = vec![
                (
                    Cow::Borrowed(vocab::ALERT_RULE),
                    Value::from(alert.rule.clone()),
                ),
                (
                    Cow::Borrowed(vocab::ALERT_SEVERITY),
                    Value::from(alert.severity.clone()),
                ),
                (
                    Cow::Borrowed(vocab::ALERT_QUANTITY),
                    Value::from(alert.quantity.as_str()),
                ),
                (
                    Cow::Borrowed(vocab::ALERT_THRESHOLD),
                    Value::Decimal(threshold),
                ),
                (Cow::Borrowed(vocab::ALERT_VALUE), Value::Decimal(value)),
                (
                    Cow::Borrowed(vocab::ALERT_EXCEEDED_BY),
                    Value::Decimal(exceeded_by),
                ),
            ];
            chatobs_core::current::add_event(vocab::ALERT_FIRED, attrs);
        }
        // 3. the sinks (never waits) and the recent list.
        let alert = Arc::new(alert);
        for s in &self.sinks {
            s.offer(alert.clone());
        }
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= RECENT {
            recent.pop_front();
        }
        recent.push_back((*alert).clone());
    }

    /// The last 1000 alerts fired (oldest first).
    pub fn recent(&self) -> Vec<Alert> {
        self.recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// Counters by rule.
    pub fn rule_stats(&self) -> Vec<RuleStats> {
        self.rules
            .iter()
            .map(|r| RuleStats {
                rule: r.name.clone(),
                severity: r.severity.clone(),
                per_conversation: r.quantity.per_conversation(),
                fired: r.fired.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Counters by sink (`log` first).
    pub fn sink_stats(&self) -> Vec<(&'static str, Arc<SinkStats>)> {
        let mut v = vec![("log", self.log_stats.clone())];
        v.extend(self.sinks.iter().map(|s| (s.name, s.stats.clone())));
        v
    }

    /// Waits (at most `timeout`) until every queued alert was delivered or given up.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let t = std::time::Instant::now();
        loop {
            if self
                .sinks
                .iter()
                .all(|s| s.stats.pending.load(Ordering::Acquire) == 0)
            {
                return true;
            }
            if t.elapsed() >= timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops the sinks: queued alerts get `alerts.delivery.shutdown_timeout_ms` to go out.
    pub fn shutdown(&self) -> bool {
        let mut ok = true;
        for s in &self.sinks {
            ok &= s.shutdown();
        }
        ok
    }
}

fn describe(r: &Rule, value: Decimal, threshold: Decimal, by: Decimal) -> String {
    let (v, t, b) = (value.normalize(), threshold.normalize(), by.normalize());
    match r.quantity {
        Quantity::LlmCallCostUsd => {
            format!("an LLM call cost {v} USD, {b} USD above the {t} USD per-call limit")
        }
        Quantity::LlmCallTokens => {
            format!("an LLM call used {v} tokens, {b} above the {t}-token per-call limit")
        }
        Quantity::ConversationCostUsd => format!(
            "a conversation's total (LLM + WhatsApp) reached {v} USD, {b} USD over its {t} USD budget"
        ),
        Quantity::ConversationLlmCostUsd => format!(
            "a conversation's LLM spend reached {v} USD, {b} USD over its {t} USD budget"
        ),
        Quantity::ConversationWhatsappCostUsd => format!(
            "a conversation's WhatsApp spend reached {v} USD, {b} USD over its {t} USD budget"
        ),
        Quantity::EvalScore => format!(
            "evaluation {} scored {v}, {b} past the threshold {t}",
            r.evaluator.as_deref().unwrap_or("?")
        ),
    }
}

#[derive(Clone, Copy)]
struct Ids {
    trace_id: TraceId,
    span_id: SpanId,
    role: Option<vocab::Role>,
}

impl Ids {
    fn of(ev: &CostEvent<'_>) -> Ids {
        Ids {
            trace_id: ev.trace_id,
            span_id: ev.span_id,
            role: ev.role,
        }
    }
}

// ---- the installed engine ------------------------------------------------------------------

// Replaced engines are shut down and kept (leaked, a few KB) so a cost listener
// running concurrently never sees freed memory; installing is rare.
static ENGINE: AtomicPtr<AlertEngine> = AtomicPtr::new(std::ptr::null_mut());
static INSTALL: Mutex<()> = Mutex::new(());

/// The installed engine.
#[inline]
pub fn current() -> Option<&'static AlertEngine> {
    // SAFETY: only leaked, never freed engines are stored.
    unsafe { ENGINE.load(Ordering::Acquire).as_ref() }
}

/// Installs `engine` (replacing and shutting down the previous one) and
/// starts observing cost; `chatobs_runtime::init` does this from `[alerts]`.
pub fn install(engine: AlertEngine) -> &'static AlertEngine {
    static LISTEN: Once = Once::new();
    let _g = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let leaked: &'static mut AlertEngine = Box::leak(Box::new(engine));
    let prev = ENGINE.swap(leaked, Ordering::AcqRel);
    // SAFETY: as in `current`.
    if let Some(p) = unsafe { prev.as_ref() } {
        p.shutdown();
    }
    LISTEN.call_once(|| {
        chatobs_cost::on_cost(Arc::new(|ev: &CostEvent<'_>| {
            if let Some(e) = current() {
                e.observe_cost(ev);
            }
        }));
    });
    leaked
}

/// Uninstalls the engine (shutting its sinks down, bounded).
pub fn uninstall() -> bool {
    let _g = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let prev = ENGINE.swap(std::ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: as in `current`.
    unsafe { prev.as_ref() }.is_none_or(|p| p.shutdown())
}

/// Checks an evaluation score against the installed engine's rules.
pub fn observe_score(evaluator: &str, score: f64, target: &Context) {
    if let Some(e) = current() {
        e.observe_score(evaluator, score, target);
    }
}

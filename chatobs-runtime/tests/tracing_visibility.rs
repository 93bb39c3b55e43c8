//! Chat spans are visible to a `tracing` subscriber the user installs, and
//! logs inside them carry their context.

use chatobs_runtime::{chat_span, ChatSession};
use std::sync::{Arc, Mutex};
use tracing::span::{Attributes, Id};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl<S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>> Layer<S> for Seen {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        struct V(String);
        impl tracing::field::Visit for V {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                self.0.push_str(&format!(" {}={:?}", f.name(), v));
            }
            fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
                self.0.push_str(&format!(" {}={}", f.name(), v));
            }
        }
        let mut v = V(attrs.metadata().name().to_owned());
        attrs.record(&mut v);
        self.0.lock().unwrap().push(v.0);
    }
    fn on_event(&self, e: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let span = ctx
            .event_span(e)
            .map(|s| s.name().to_owned())
            .unwrap_or_default();
        self.0.lock().unwrap().push(format!("event in {span}"));
    }
}

#[chat_span(name = "agent.sales.flow", role = "sales", step = "qualify", tags("vip"), template_category = marketing)]
fn flow() {
    tracing::info!("inside");
}

#[test]
fn user_subscriber_sees_chat_spans() {
    // With a key set, no "session key missing" warning is logged inside the test subscriber.
    chatobs_runtime::context::set_session_key(b"tracing-visibility-test-key").unwrap();
    let seen = Seen::default();
    let sub = tracing_subscriber::registry().with(seen.clone());
    tracing::subscriber::with_default(sub, || {
        ChatSession::new("wa:57300").in_scope(flow);
    });
    let got = seen.0.lock().unwrap().clone();
    let id = ChatSession::new("wa:57300").id().to_owned();
    assert_eq!(
        got,
        vec![
            format!("agent.sales.flow agent.role=sales conversation.step=qualify template_category=marketing tag.tags=[\"vip\"] chat.session_id={id}"),
            "event in agent.sales.flow".to_owned()
        ]
    );
}

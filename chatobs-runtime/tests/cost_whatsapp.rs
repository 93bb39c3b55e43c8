//! WhatsApp pricing: window scenarios under both pricing models, volume tiers,
//! the billed-service rule, export/restore, reconciliation, span attributes.

use chatobs_runtime::cost::{
    self, timeline, Category, FreeBy, Inbound, MetaPricing, Outbound, PricingModel, PricingType,
    RateCard, StateBounds, StateSnapshot, WhatsAppCharge, WhatsAppPricer,
};
use chatobs_runtime::vocab::TemplateCategory::{self, Authentication, Marketing, Utility};
use chatobs_runtime::{testing, vocab, ChatSession, SpanBuilder};
use rust_decimal::Decimal;
use std::str::FromStr;
use time::{Duration, OffsetDateTime};

const BIZ: &str = "+5716000000";
const USER: &str = "+573001234567";

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn t(s: &str) -> OffsetDateTime {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
}

struct Bot {
    p: WhatsAppPricer,
}

impl Bot {
    fn new() -> Bot {
        Bot {
            p: WhatsAppPricer::shipped(),
        }
    }
    fn with(extra: &str, billed_service: bool) -> Bot {
        let mut card = RateCard::shipped();
        card.merge_toml(extra, None).unwrap();
        card.rules.billed_service_enabled = billed_service;
        Bot {
            p: WhatsAppPricer::new(card, StateBounds::default()),
        }
    }
    fn inbound(&self, at: OffsetDateTime) {
        self.p.inbound(&Inbound {
            business: BIZ,
            user: USER,
            at,
            entry_point: false,
        });
    }
    fn inbound_ep(&self, at: OffsetDateTime) {
        self.p.inbound(&Inbound {
            business: BIZ,
            user: USER,
            at,
            entry_point: true,
        });
    }
    fn out(&self, at: OffsetDateTime, template: Option<TemplateCategory>) -> WhatsAppCharge {
        self.out_to(USER, at, template)
    }
    fn out_to(
        &self,
        user: &str,
        at: OffsetDateTime,
        template: Option<TemplateCategory>,
    ) -> WhatsAppCharge {
        self.p
            .outbound(&Outbound {
                business: BIZ,
                user,
                at,
                template,
                entry_point: false,
            })
            .unwrap()
    }
}

const H: Duration = Duration::HOUR;

#[test]
fn pricing_model_is_chosen_by_delivery_date() {
    let card = RateCard::shipped();
    assert_eq!(
        card.model_at(t("2025-06-30T23:59:59Z")),
        PricingModel::ConversationBased
    );
    assert_eq!(
        card.model_at(t("2025-07-01T00:00:00Z")),
        PricingModel::PerMessage
    );
}

#[test]
fn repeat_templates_inside_and_outside_24h() {
    // Conversation-based: one charge per 24 h marketing conversation.
    let b = Bot::new();
    let t0 = t("2025-06-10T10:00:00Z");
    let c1 = b.out(t0, Some(Marketing));
    assert_eq!((c1.price, c1.billable), (d("0.0125"), true));
    assert_eq!(c1.pricing_model, PricingModel::ConversationBased);
    assert_eq!(c1.market.as_deref(), Some("Colombia"));
    // A utility template opens its own conversation even while marketing is open.
    let u = b.out(t0 + 2 * H, Some(Utility));
    assert_eq!(u.price, d("0.0002"));
    let c2 = b.out(t0 + 23 * H, Some(Marketing));
    assert_eq!(
        (c2.price, c2.billable, c2.free_by),
        (Decimal::ZERO, false, Some(FreeBy::OpenConversation))
    );
    let c3 = b.out(t0 + 24 * H, Some(Marketing));
    assert_eq!(c3.price, d("0.0125"));

    // Per-message: every delivered template is charged.
    let b = Bot::new();
    let t0 = t("2025-07-10T10:00:00Z");
    for dt in [0, 1, 23, 30] {
        let c = b.out(t0 + dt * H, Some(Marketing));
        assert_eq!(
            (c.price, c.pricing_type, c.billable),
            (d("0.0125"), PricingType::Regular, true)
        );
        assert_eq!(c.pricing_model, PricingModel::PerMessage);
    }
}

#[test]
fn utility_inside_and_outside_the_customer_service_window() {
    // PMP: free inside the window, charged outside.
    let b = Bot::new();
    let t0 = t("2025-07-03T10:00:00Z");
    b.inbound(t0);
    let inside = b.out(t0 + 23 * H, Some(Utility));
    assert_eq!(inside.price, Decimal::ZERO);
    assert_eq!(inside.pricing_type, PricingType::FreeCustomerService);
    assert_eq!(inside.free_by, Some(FreeBy::CustomerServiceWindow));
    let outside = b.out(t0 + 24 * H, Some(Utility));
    assert_eq!(
        (outside.price, outside.pricing_type),
        (d("0.0002"), PricingType::Regular)
    );
    // Marketing is charged even inside the window.
    b.inbound(t0 + 30 * H);
    assert_eq!(b.out(t0 + 31 * H, Some(Marketing)).price, d("0.0125"));

    // CBP: a utility template inside the window still opens a utility conversation.
    let b = Bot::new();
    let t0 = t("2025-06-03T10:00:00Z");
    b.inbound(t0);
    assert_eq!(b.out(t0 + H, Some(Utility)).price, d("0.0002"));
    assert_eq!(b.out(t0 + 2 * H, Some(Utility)).price, Decimal::ZERO);
    assert_eq!(b.out(t0 + 26 * H, Some(Utility)).price, d("0.0002"));
}

#[test]
fn service_replies() {
    // PMP: free-form replies inside the window are free.
    let b = Bot::new();
    let t0 = t("2025-08-01T08:00:00Z");
    b.inbound(t0);
    let r = b.out(t0 + H, None);
    assert_eq!(
        (r.price, r.category, r.pricing_type),
        (
            Decimal::ZERO,
            Category::Service,
            PricingType::FreeCustomerService
        )
    );
    assert_eq!(r.warning, None);
    // Outside the window Meta rejects free-form: priced 0 with a warning.
    let late = b.out(t0 + 25 * H, None);
    assert_eq!(late.price, Decimal::ZERO);
    assert!(late
        .warning
        .as_deref()
        .unwrap()
        .contains("outside the customer service window"));

    // CBP after 2024-11-01: the service conversation is free.
    let b = Bot::new();
    let t0 = t("2025-01-15T08:00:00Z");
    b.inbound(t0);
    let r = b.out(t0 + H, None);
    assert_eq!(
        (r.price, r.pricing_type, r.free_by),
        (
            Decimal::ZERO,
            PricingType::FreeCustomerService,
            Some(FreeBy::FreeServiceConversation)
        )
    );
    // A free-form reply while a marketing conversation is open is covered by it.
    let b = Bot::new();
    b.out(t0, Some(Marketing));
    b.inbound(t0 + H);
    let r = b.out(t0 + 2 * H, None);
    assert_eq!(
        (r.price, r.free_by),
        (Decimal::ZERO, Some(FreeBy::OpenConversation))
    );
    // Before 2024-11-01 service conversations were billed; the shipped card has no
    // service rate for that time, so the price is unknown (never invented).
    let b = Bot::new();
    let t0 = t("2024-10-15T08:00:00Z");
    b.inbound(t0);
    let r = b.out(t0 + H, None);
    assert!(r.billable && !r.price_known);
}

#[test]
fn free_entry_point_window_both_models() {
    for start in ["2025-05-05T09:00:00Z", "2025-09-05T09:00:00Z"] {
        let b = Bot::new();
        let t0 = t(start);
        b.inbound_ep(t0);
        // The reply within 24 h opens a 72 h window in which everything is free.
        let reply = b.out(t0 + H, None);
        assert_eq!(
            (reply.price, reply.pricing_type),
            (Decimal::ZERO, PricingType::FreeEntryPoint),
            "{start}"
        );
        let m = b.out(t0 + 50 * H, Some(Marketing));
        assert_eq!(
            (m.price, m.free_by),
            (Decimal::ZERO, Some(FreeBy::FreeEntryPointWindow)),
            "{start}"
        );
        let a = b.out(t0 + 72 * H, Some(Authentication));
        assert_eq!(a.price, Decimal::ZERO, "{start}");
        // 72 h after the reply, templates are charged again.
        let after = b.out(t0 + 73 * H, Some(Marketing));
        assert_eq!(after.price, d("0.0125"), "{start}");
    }
    // The outbound flag alone opens the window when the service window is open.
    let b = Bot::new();
    let t0 = t("2025-09-05T09:00:00Z");
    b.inbound(t0);
    let c =
        b.p.outbound(&Outbound {
            business: BIZ,
            user: USER,
            at: t0 + H,
            template: Some(Marketing),
            entry_point: true,
        })
        .unwrap();
    assert_eq!(c.pricing_type, PricingType::FreeEntryPoint);
    // ... but not without an open service window (the user must have written within 24 h).
    let b = Bot::new();
    let c =
        b.p.outbound(&Outbound {
            business: BIZ,
            user: USER,
            at: t0,
            template: Some(Marketing),
            entry_point: true,
        })
        .unwrap();
    assert_eq!(c.price, d("0.0125"));
}

#[test]
fn switch_date_inside_an_open_conversation() {
    // A marketing conversation opened on 2025-06-30 20:00 is still open at 2025-07-01 10:00,
    // but from 2025-07-01 each delivered template is charged.
    let b = Bot::new();
    let c1 = b.out(t("2025-06-30T20:00:00Z"), Some(Marketing));
    assert_eq!(
        (c1.price, c1.pricing_model),
        (d("0.0125"), PricingModel::ConversationBased)
    );
    let c_same_day = b.out(t("2025-06-30T23:00:00Z"), Some(Marketing));
    assert_eq!(c_same_day.price, Decimal::ZERO);
    let c2 = b.out(t("2025-07-01T10:00:00Z"), Some(Marketing));
    assert_eq!(
        (c2.price, c2.pricing_model),
        (d("0.0125"), PricingModel::PerMessage)
    );
    // The service window opened before the switch still makes utility free after it.
    let b = Bot::new();
    b.inbound(t("2025-06-30T22:00:00Z"));
    let u = b.out(t("2025-07-01T09:00:00Z"), Some(Utility));
    assert_eq!(
        (u.price, u.pricing_type),
        (Decimal::ZERO, PricingType::FreeCustomerService)
    );
}

const TIERS: &str = r#"
[[market]]
name = "Colombia"
calling_codes = ["57"]
  [[market.rate]]
  effective = "2024-10-01"
  marketing = "0.0125"
  utility = "0.0002"
  authentication = "0.0077"
  source = "test"
  date = "2025-11-21"
  [[market.volume_tier]]
  category = "utility"
  effective = "2025-07-01"
  from_message = 1
  rate = "0.0002"
  [[market.volume_tier]]
  category = "utility"
  effective = "2025-07-01"
  from_message = 3
  rate = "0.00015"
  [[market.volume_tier]]
  category = "authentication"
  effective = "2025-07-01"
  from_message = 2
  rate = "0.007"

[[market]]
name = "Jamaica"
calling_codes = ["1876"]
  [[market.rate]]
  effective = "2024-10-01"
  marketing = "0.07"
  source = "test"
  date = "2025-11-21"

[rules]
billed_service_free_per_month = 2
"#;

#[test]
fn volume_tiers_cross_mid_month_and_restart_next_month() {
    let b = Bot::with(TIERS, false);
    let prices: Vec<_> = (0..4)
        .map(|i| b.out(t("2025-07-14T10:00:00Z") + i * 48 * H, Some(Utility)))
        .map(|c| (c.price, c.volume_tier_from))
        .collect();
    assert_eq!(
        prices,
        vec![
            (d("0.0002"), Some(1)),
            (d("0.0002"), Some(1)),
            (d("0.00015"), Some(3)),
            (d("0.00015"), Some(3)),
        ]
    );
    // Free utility (inside the window) does not count toward the tier.
    b.inbound(t("2025-07-30T10:00:00Z"));
    assert_eq!(
        b.out(t("2025-07-30T11:00:00Z"), Some(Utility)).price,
        Decimal::ZERO
    );
    // A new month starts at the first tier again.
    let aug = b.out(t("2025-08-01T00:00:00Z"), Some(Utility));
    assert_eq!((aug.price, aug.volume_tier_from), (d("0.0002"), Some(1)));
    // Authentication: the first message has no tier row, so the card's rate applies.
    assert_eq!(
        b.out(t("2025-08-02T00:00:00Z"), Some(Authentication)).price,
        d("0.0077")
    );
    assert_eq!(
        b.out(t("2025-08-03T00:00:00Z"), Some(Authentication)).price,
        d("0.007")
    );
}

#[test]
fn billed_service_rule_on_and_off() {
    let run = |on: bool| -> Vec<(Decimal, Option<FreeBy>)> {
        let b = Bot::with(TIERS, on);
        let t0 = t("2026-10-05T10:00:00Z");
        b.inbound(t0);
        let mut v: Vec<_> = (1..=3)
            .map(|i| b.out(t0 + i * Duration::MINUTE, None))
            .map(|c| (c.price, c.free_by))
            .collect();
        // Before the rule's date nothing is billed, even with the rule on.
        let b = Bot::with(TIERS, on);
        b.inbound(t("2026-09-20T10:00:00Z"));
        let c = b.out(t("2026-09-20T10:05:00Z"), None);
        v.push((c.price, c.free_by));
        v
    };
    let off = run(false);
    assert!(off
        .iter()
        .all(|(p, f)| p.is_zero() && *f == Some(FreeBy::CustomerServiceWindow)));
    let on = run(true);
    assert_eq!(
        on,
        vec![
            (Decimal::ZERO, Some(FreeBy::MonthlyFreeAllowance)),
            (Decimal::ZERO, Some(FreeBy::MonthlyFreeAllowance)),
            (d("0.0002"), None), // no service rate in the card: the utility rate
            (Decimal::ZERO, Some(FreeBy::CustomerServiceWindow)),
        ]
    );
}

#[test]
fn markets_by_longest_prefix_and_authentication_international() {
    let b = Bot::with(TIERS, false);
    let at = t("2025-07-20T10:00:00Z");
    assert_eq!(
        b.out_to("+18765551234", at, Some(Marketing))
            .market
            .as_deref(),
        Some("Jamaica")
    );
    let na = b.out_to("+14155551234", at, Some(Marketing));
    assert_eq!(
        (na.market.as_deref(), na.price),
        (Some("North America"), d("0.0250"))
    );
    // A Colombian business authenticating an Indian user pays the international rate.
    let intl = b.out_to("+919876543210", at, Some(Authentication));
    assert_eq!(
        (intl.category, intl.price),
        (Category::AuthenticationInternational, d("0.0280"))
    );
    assert_eq!(intl.category.as_str(), "authentication-international");
    let india_biz = WhatsAppPricer::shipped()
        .outbound(&Outbound {
            business: "+911140000000",
            user: "+919876543210",
            at,
            template: Some(Authentication),
            entry_point: false,
        })
        .unwrap();
    assert_eq!(
        (india_biz.category, india_biz.price),
        (Category::Authentication, d("0.0014"))
    );
    // Every number has a market on Meta's card: Nigeria is named, a code no
    // market lists falls to "Other".
    let ng = b.out_to("+2348012345678", at, Some(Marketing));
    assert_eq!(ng.market.as_deref(), Some("Nigeria"));
    assert!(ng.price_known);
    let other = b.out_to("+999123456789", at, Some(Marketing));
    assert_eq!(other.market.as_deref(), Some("Other"));
    assert!(other.price_known && other.price > Decimal::ZERO);
    // A card without "Other": unknown market, price unknown, never a guess.
    let mut card = RateCard::empty();
    card.merge_toml(
        "[[market]]\nname = \"Colombia\"\ncalling_codes = [\"57\"]\n  [[market.rate]]\n  effective = \"2025-07-01\"\n  marketing = \"0.0125\"\n  source = \"test\"\n  date = \"2026-11-30\"\n",
        None,
    )
    .unwrap();
    let p = WhatsAppPricer::new(card, StateBounds::default());
    let x = p
        .outbound(&Outbound {
            business: BIZ,
            user: "+2348012345678",
            at,
            template: Some(Marketing),
            entry_point: false,
        })
        .unwrap();
    assert!(!x.price_known && x.market.is_none());
}

/// A mixed timeline of several users over the switch date and a month boundary.
fn scenario() -> Vec<(
    bool,
    &'static str,
    &'static str,
    Option<TemplateCategory>,
    bool,
)> {
    // (inbound?, user, at, template, entry_point)
    vec![
        (true, "+573001111111", "2025-06-30T12:00:00Z", None, false),
        (false, "+573001111111", "2025-06-30T12:05:00Z", None, false),
        (
            false,
            "+573001111111",
            "2025-06-30T13:00:00Z",
            Some(Marketing),
            false,
        ),
        (
            false,
            "+573002222222",
            "2025-06-30T18:00:00Z",
            Some(Utility),
            false,
        ),
        (true, "+573003333333", "2025-07-01T08:00:00Z", None, true),
        (false, "+573003333333", "2025-07-01T09:00:00Z", None, false),
        // --- restart here ---
        (
            false,
            "+573003333333",
            "2025-07-03T09:00:00Z",
            Some(Marketing),
            false,
        ),
        (
            false,
            "+573001111111",
            "2025-07-01T10:00:00Z",
            Some(Utility),
            false,
        ),
        (
            false,
            "+573002222222",
            "2025-07-01T11:00:00Z",
            Some(Utility),
            false,
        ),
        (
            false,
            "+573002222222",
            "2025-07-02T11:00:00Z",
            Some(Utility),
            false,
        ),
        (
            false,
            "+573002222222",
            "2025-07-05T11:00:00Z",
            Some(Utility),
            false,
        ),
        (
            false,
            "+573003333333",
            "2025-07-05T09:00:00Z",
            Some(Marketing),
            false,
        ),
        (true, "+573001111111", "2025-07-06T10:00:00Z", None, false),
        (
            false,
            "+573001111111",
            "2025-07-06T10:30:00Z",
            Some(Utility),
            false,
        ),
    ]
}

fn play(
    p: &WhatsAppPricer,
    events: &[(bool, &str, &str, Option<TemplateCategory>, bool)],
) -> Vec<WhatsAppCharge> {
    let mut out = Vec::new();
    for (inbound, user, at, template, ep) in events {
        if *inbound {
            p.inbound(&Inbound {
                business: BIZ,
                user,
                at: t(at),
                entry_point: *ep,
            });
        } else {
            out.push(
                p.outbound(&Outbound {
                    business: BIZ,
                    user,
                    at: t(at),
                    template: *template,
                    entry_point: *ep,
                })
                .unwrap(),
            );
        }
    }
    out
}

#[test]
fn restored_state_prices_like_an_uninterrupted_run() {
    let mut card = RateCard::shipped();
    card.merge_toml(TIERS, None).unwrap();
    let events = scenario();
    let whole = WhatsAppPricer::new(card.clone(), StateBounds::default());
    let expected = play(&whole, &events);

    let first = WhatsAppPricer::new(card.clone(), StateBounds::default());
    let mut got = play(&first, &events[..6]);
    let json = first.export().to_json();
    for (_, user, ..) in &events {
        let digits: String = user.chars().filter(char::is_ascii_digit).collect();
        assert!(
            !json.contains(&digits),
            "the snapshot keeps users as keyed hashes only"
        );
    }
    drop(first);
    let second = WhatsAppPricer::new(card.clone(), StateBounds::default());
    second.restore(&StateSnapshot::from_json(&json).unwrap());
    got.extend(play(&second, &events[6..]));
    assert_eq!(got, expected);
    // The restart matters: without the state, the prices differ.
    let cold = WhatsAppPricer::new(card, StateBounds::default());
    let mut cold_run = play(
        &WhatsAppPricer::new(RateCard::shipped(), StateBounds::default()),
        &events[..6],
    );
    cold_run.extend(play(&cold, &events[6..]));
    assert_ne!(cold_run, expected);
    // Sanity on the expected figures: the entry-point reply and the marketing template
    // 48 h later are free, the window opened before the restart makes utility free,
    // the third July utility to user 2 is in the second tier, and the free entry point
    // window has closed for the marketing template on 07-05.
    assert_eq!(expected[3].pricing_type, PricingType::FreeEntryPoint);
    assert_eq!(expected[4].pricing_type, PricingType::FreeEntryPoint);
    assert_eq!(expected[5].free_by, Some(FreeBy::CustomerServiceWindow));
    assert_eq!(expected[8].price, d("0.00015"));
    assert_eq!(expected[9].price, d("0.0125"));
    assert!(StateSnapshot::from_json("{\"version\":2,\"pairs\":[],\"monthly\":[]}").is_err());
}

#[test]
fn state_is_bounded_by_size_and_expiry() {
    let p = WhatsAppPricer::new(
        RateCard::shipped(),
        StateBounds {
            max_pairs: 64,
            ttl_ms: 72 * 3_600_000,
        },
    );
    let t0 = t("2025-07-01T00:00:00Z");
    for i in 0..1000 {
        p.inbound(&Inbound {
            business: BIZ,
            user: &format!("+5730000{i:05}"),
            at: t0 + i * Duration::SECOND,
            entry_point: false,
        });
        assert!(p.pairs_len() <= 64);
    }
    // The most recent users keep their window.
    let c = p
        .outbound(&Outbound {
            business: BIZ,
            user: "+573000000999",
            at: t0 + H,
            template: Some(Utility),
            entry_point: false,
        })
        .unwrap();
    assert_eq!(c.price, Decimal::ZERO);
    // Expired pairs are dropped when the store is full.
    p.inbound(&Inbound {
        business: BIZ,
        user: "+573009999999",
        at: t0 + 100 * H,
        entry_point: false,
    });
    assert!(p.pairs_len() <= 2, "{}", p.pairs_len());
}

#[test]
fn reconcile_keeps_metas_figure_and_records_the_difference() {
    let b = Bot::new();
    let t0 = t("2025-07-03T10:00:00Z");
    b.inbound(t0);
    let est = b.out(t0 + H, Some(Utility));
    assert_eq!(est.price, Decimal::ZERO);
    let meta: MetaPricing = serde_json::from_str(
        r#"{"billable": true, "pricing_model": "PMP", "type": "regular", "category": "utility"}"#,
    )
    .unwrap();
    let r = b.p.reconcile(&est, &meta);
    assert!(r.differs);
    assert_eq!((r.meta, r.difference), (Some(d("0.0002")), d("0.0002")));
    let same: MetaPricing = serde_json::from_str(
        r#"{"billable": false, "pricing_model": "PMP", "type": "free_customer_service", "category": "utility"}"#,
    )
    .unwrap();
    assert!(!b.p.reconcile(&est, &same).differs);
}

#[test]
fn spans_carry_whatsapp_attributes_and_the_split_running_total() {
    let session = ChatSession::from_exported_id("cost-wa-attrs-1").unwrap();
    let b = Bot::new();
    let t0 = t("2025-07-03T10:00:00Z");
    let ((), spans) = testing::capture(|| {
        session.in_scope(|| {
            b.inbound(t0);
            let mut s = SpanBuilder::new("agent.sales.flow").start();
            s.in_scope(|| {
                cost::record_llm_call(
                    &cost::LlmCall::new("gpt-4o")
                        .input_tokens(1000)
                        .output_tokens(100),
                )
                .unwrap();
                cost::price_outbound_with(
                    &b.p,
                    &Outbound {
                        business: BIZ,
                        user: USER,
                        at: t0 + H,
                        template: Some(Marketing),
                        entry_point: false,
                    },
                )
                .unwrap();
            });
            drop(s);
            let mut w = SpanBuilder::new("whatsapp.status").start();
            w.in_scope(|| {
                let est = cost::price_outbound_with(
                    &b.p,
                    &Outbound {
                        business: BIZ,
                        user: USER,
                        at: t0 + 2 * H,
                        template: Some(Utility),
                        entry_point: false,
                    },
                )
                .unwrap();
                let meta = MetaPricing {
                    billable: true,
                    pricing_model: Some("PMP".into()),
                    pricing_type: Some("regular".into()),
                    category: "utility".into(),
                };
                cost::reconcile_with(&b.p, &est, &meta);
            });
        })
    });
    let s = spans.one("agent.sales.flow");
    let dec = |s: &chatobs_runtime::FinishedSpan, k: &str| s.attr(k).and_then(|v| v.as_decimal());
    assert_eq!(
        dec(s, vocab::MESSAGING_WHATSAPP_PRICE_USD),
        Some(d("0.0125"))
    );
    assert_eq!(
        s.attr_str(vocab::MESSAGING_WHATSAPP_CATEGORY),
        Some("marketing")
    );
    assert_eq!(
        s.attr_str(vocab::MESSAGING_WHATSAPP_MARKET),
        Some("Colombia")
    );
    assert_eq!(
        s.attr_str(vocab::MESSAGING_WHATSAPP_PRICING_TYPE),
        Some("regular")
    );
    assert_eq!(
        s.attr_str(vocab::MESSAGING_WHATSAPP_PRICING_MODEL),
        Some("PMP")
    );
    assert_eq!(dec(s, vocab::CHAT_SESSION_COST_LLM_USD), Some(d("0.0035")));
    assert_eq!(
        dec(s, vocab::CHAT_SESSION_COST_WHATSAPP_USD),
        Some(d("0.0125"))
    );
    assert_eq!(dec(s, vocab::CHAT_SESSION_COST_USD), Some(d("0.016")));
    let w = spans.one("whatsapp.status");
    assert_eq!(
        w.attr_str(vocab::MESSAGING_WHATSAPP_PRICING_TYPE),
        Some("free_customer_service")
    );
    let ev = w
        .event(vocab::WHATSAPP_PRICING_RECONCILED)
        .expect("reconciliation event");
    assert_eq!(
        ev.attr(vocab::MESSAGING_WHATSAPP_PRICE_DIFFERENCE_USD)
            .and_then(|v| v.as_decimal()),
        Some(d("0.0002"))
    );
    assert_eq!(
        ev.attr(vocab::MESSAGING_WHATSAPP_PRICE_ESTIMATE_USD)
            .and_then(|v| v.as_decimal()),
        Some(Decimal::ZERO)
    );
    // Meta's figure is in the total.
    assert_eq!(
        dec(w, vocab::CHAT_SESSION_COST_WHATSAPP_USD),
        Some(d("0.0127"))
    );
    let totals = cost::session_totals(&session);
    assert_eq!((totals.messages_outbound, totals.llm_calls), (2, 1));
}

#[test]
fn timeline_errors_name_the_line_and_the_field() {
    let p = WhatsAppPricer::shipped();
    let ok = "{\"at\": \"2025-07-03T10:00:00Z\", \"business\": \"+5716000000\", \"user\": \"+573001234567\", \"dir\": \"in\"}\n";
    let cases = [
        ("{\"at\": \"yesterday\", \"business\": \"+5716000000\", \"user\": \"+573001234567\", \"dir\": \"in\"}", "at"),
        ("{\"at\": \"2025-07-03T10:00:00Z\", \"business\": \"+5716000000\", \"user\": \"+573001234567\", \"dir\": \"sideways\"}", "dir"),
        ("{\"at\": \"2025-07-03T10:00:00Z\", \"business\": \"+5716000000\", \"user\": \"+573001234567\", \"dir\": \"out\", \"template\": \"promo\"}", "template"),
        ("{\"at\": \"2025-07-03T10:00:00Z\", \"business\": \"+5716000000\", \"dir\": \"out\"}", "user"),
        ("{\"at\": \"2025-07-03T10:00:00Z\", \"business\": \"+5716000000\", \"user\": \"+573001234567\", \"dir\": \"out\", \"entry_point\": \"no\"}", "entry_point"),
        ("not json", "(line)"),
    ];
    for (bad, field) in cases {
        let text = format!("{ok}\n{bad}\n");
        let e = timeline::replay(&p, &text).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (3, field), "{e}");
        assert!(
            e.to_string().starts_with(&format!("line 3: {field}: ")),
            "{e}"
        );
    }
}

/// A user known only by a business-scoped user id (WhatsApp usernames):
/// their messages open the customer service window under that id, and the
/// id's country (`CO.`) picks the market of a template sent to them.
#[test]
fn business_scoped_users_have_windows_and_a_market() {
    let b = Bot::new();
    let bsuid = "CO.13491208655302741918";
    let at = t("2025-08-04T15:00:00Z");
    // Outside any window: a marketing template to the id is priced at
    // Colombia's rate, like one to a +57 number.
    let m = b.out_to(bsuid, at, Some(Marketing));
    assert_eq!(m.market.as_deref(), Some("Colombia"));
    assert_eq!(m.price, b.out_to(USER, at, Some(Marketing)).price);
    assert!(m.price > Decimal::ZERO);
    // The user writes (known by the id only): a free-form reply and a
    // utility template inside the window are free.
    b.p.inbound(&Inbound {
        business: BIZ,
        user: bsuid,
        at: at + H,
        entry_point: false,
    });
    let reply = b.out_to(bsuid, at + 2 * H, None);
    assert_eq!(reply.price, Decimal::ZERO);
    assert_eq!(reply.pricing_type, PricingType::FreeCustomerService);
    let util = b.out_to(bsuid, at + 3 * H, Some(Utility));
    assert_eq!(util.price, Decimal::ZERO);
    // Another user of the same country has no window of their own.
    let other = b.out_to("CO.99999999999999999999", at + 3 * H, Some(Utility));
    assert!(other.price > Decimal::ZERO);
    // A parent id (`CO.ENT.…`) names the country too; an unknown country has no market.
    assert_eq!(
        b.out_to("CO.ENT.11815799212886844830", at, Some(Marketing))
            .market
            .as_deref(),
        Some("Colombia")
    );
    // A country no named market lists is "Other".
    assert_eq!(
        b.out_to("ZZ.1234", at, Some(Marketing)).market.as_deref(),
        Some("Other")
    );
}

/// The card and row used are reported; a number of no named market falls
/// to "Other"; a message past the quarter after the newest card carries the
/// stale flag.
#[test]
fn card_row_other_market_and_stale_flag() {
    // A card newer than the shipped ones, with its "Other" row.
    let b = Bot::with(
        r#"
[[card]]
effective = "2027-01-01"
pricing_model = "PMP"
name = "Test card 2027-01-01"
source = "test"
date = "2026-11-30"

[[market]]
name = "Other"
calling_codes = ["*"]
countries = ["*"]
  [[market.rate]]
  effective = "2027-01-01"
  marketing = "0.0999"
  utility = "0.0077"
  authentication = "0.0077"
  source = "test"
  date = "2026-11-30"
  note = "test figures"
"#,
        false,
    );
    let jan = t("2027-02-10T10:00:00Z");
    // +999 is no country's code: Meta's "Other".
    let c = b.out_to("+999123456789", jan, Some(Marketing));
    assert_eq!(c.market.as_deref(), Some("Other"));
    assert_eq!(c.price, d("0.0999"));
    assert_eq!(c.rate_card.as_deref(), Some("Test card 2027-01-01"));
    assert_eq!(c.rate_effective.as_deref(), Some("2027-01-01"));
    assert!(!c.card_may_be_stale);
    // Colombia's row of the shipped card is used under the card in force.
    let co = b.out_to(USER, jan, Some(Marketing));
    assert_eq!(co.market.as_deref(), Some("Colombia"));
    assert!(co
        .rate_effective
        .as_deref()
        .is_some_and(|d| d < "2027-01-01"));
    // From 2027-04-01 (the next quarter) Meta may have published a newer card.
    let apr = b.out_to("+999123456789", t("2027-04-01T00:00:00Z"), Some(Marketing));
    assert!(apr.card_may_be_stale);
    assert_eq!(apr.price, d("0.0999"));
    // The shipped card: 2026-11-30 is not stale, 2027-01-01 is.
    let shipped = Bot::new();
    assert!(
        !shipped
            .out_to(USER, t("2026-11-30T12:00:00Z"), Some(Marketing))
            .card_may_be_stale
    );
    assert!(
        shipped
            .out_to(USER, t("2027-01-01T00:00:00Z"), Some(Marketing))
            .card_may_be_stale
    );
    // The flag reaches the span.
    let ((), spans) = testing::capture(|| {
        let mut s = SpanBuilder::new("whatsapp.send").start();
        s.in_scope(|| {
            cost::price_outbound_with(
                &b.p,
                &Outbound {
                    business: BIZ,
                    user: "+999123456789",
                    at: t("2027-05-01T00:00:00Z"),
                    template: Some(Marketing),
                    entry_point: false,
                },
            )
            .unwrap();
        });
    });
    let s = spans.one("whatsapp.send");
    assert_eq!(
        s.attr(vocab::MESSAGING_WHATSAPP_RATE_CARD_STALE)
            .and_then(|v| v.as_bool()),
        Some(true)
    );
    assert_eq!(
        s.attr_str(vocab::MESSAGING_WHATSAPP_RATE_CARD),
        Some("Test card 2027-01-01")
    );
    assert_eq!(
        s.attr_str(vocab::MESSAGING_WHATSAPP_RATE_EFFECTIVE),
        Some("2027-01-01")
    );
}

/// A sample of markets on each card, against figures as published (each
/// figure below was copied by hand from the page named next to it, not from
/// the shipped file), and the direction of each change Meta's change list
/// announces.
#[test]
fn published_figures_on_each_card() {
    let b = Bot::new();
    let price = |user: &str, at: &str, cat: TemplateCategory| {
        let c = b.out_to(user, t(at), Some(cat));
        assert!(c.price_known, "{user} {at}");
        c.price
    };
    // 2024-10-01 (conversation rates), design guide section 3 (Meta's card of Oct 2024).
    for (user, m, u, a) in [
        ("+573001234567", "0.0125", "0.0002", "0.0077"),
        ("+5511987654321", "0.0625", "0.0080", "0.0315"),
        ("+5215512345678", "0.0436", "0.0100", "0.0239"),
        ("+14155550100", "0.0250", "0.0040", "0.0135"),
    ] {
        let at = "2025-03-10T12:00:00Z";
        assert_eq!(price(user, at, Marketing), d(m), "{user} marketing");
        assert_eq!(price(user, at, Utility), d(u), "{user} utility");
        assert_eq!(
            price(user, at, Authentication),
            d(a),
            "{user} authentication"
        );
    }
    // 2025-07-01 (per message), docs.sent.dm "Complete Country Pricing Table ...
    // effective July 1, 2025": Argentina, and regions through one of their countries.
    for (user, country, m, u) in [
        ("+5491123456789", "Argentina", "0.0618", "0.0289"),
        (
            "+61412345678",
            "Australia (Rest of Asia Pacific)",
            "0.0732",
            "0.0113",
        ),
        (
            "+4366412345678",
            "Austria (Rest of Western Europe)",
            "0.0592",
            "0.0171",
        ),
        (
            "+355691234567",
            "Albania (Rest of Central & Eastern Europe)",
            "0.0860",
            "0.0212",
        ),
        (
            "+213551234567",
            "Algeria (Rest of Africa)",
            "0.0225",
            "0.0040",
        ),
        (
            "+93701234567",
            "Afghanistan (Rest of Asia Pacific)",
            "0.0732",
            "0.0113",
        ),
        (
            "+37477123456",
            "Armenia (Rest of Central & Eastern Europe)",
            "0.0860",
            "0.0212",
        ),
    ] {
        let at = "2025-08-05T12:00:00Z";
        assert_eq!(price(user, at, Marketing), d(m), "{country} marketing");
        assert_eq!(price(user, at, Utility), d(u), "{country} utility");
    }
    // 2025-10-01, Meta's change list: utility and authentication up in
    // Colombia, down in Argentina, Saudi Arabia and Egypt; marketing down in
    // Mexico, up in the UAE.
    let (sep, oct) = ("2025-09-20T12:00:00Z", "2025-10-20T12:00:00Z");
    assert!(price("+573001234567", oct, Utility) > price("+573001234567", sep, Utility));
    for user in ["+5491123456789", "+966501234567", "+201001234567"] {
        assert!(
            price(user, oct, Utility) < price(user, sep, Utility),
            "{user}"
        );
    }
    // (From a Colombian business, Saudi and Egyptian users pay the
    // authentication-international rate: Argentina shows the domestic one.)
    assert!(
        price("+5491123456789", oct, Authentication) < price("+5491123456789", sep, Authentication)
    );
    assert!(price("+5215512345678", oct, Marketing) < price("+5215512345678", sep, Marketing));
    assert!(price("+971501234567", oct, Marketing) > price("+971501234567", sep, Marketing));
    // 2026-01-01, Meta's change list: India, France and Egypt marketing;
    // North America utility and authentication.
    let (dec, jan) = ("2025-12-20T12:00:00Z", "2026-01-20T12:00:00Z");
    for user in ["+919876543210", "+33612345678", "+201001234567"] {
        assert_ne!(
            price(user, jan, Marketing),
            price(user, dec, Marketing),
            "{user}"
        );
    }
    assert_ne!(
        price("+14155550100", jan, Utility),
        price("+14155550100", dec, Utility)
    );
    // 2026-04-01 card, formbeep.pages.dev ("Rates effective April 1, 2026"):
    // the lowest rate, Colombia utility, and the highest, Netherlands marketing.
    let apr = "2026-04-15T12:00:00Z";
    assert_eq!(price("+573001234567", apr, Utility), d("0.0008"));
    assert_eq!(price("+31612345678", apr, Marketing), d("0.1597"));
    // Every row says where it was read.
    let card = RateCard::shipped();
    assert!(card.cards.len() >= 9);
    for m in &card.markets {
        for r in &m.rates {
            assert!(
                !r.source.trim().is_empty() && !r.date.is_empty(),
                "{}",
                m.name
            );
        }
    }
    assert!(card
        .rules
        .authentication_international_rule
        .contains("Primary Business Location"));
}

/// A month of Saudi utility templates from one business crosses Meta's
/// first volume tier (from the 100 001st message of the month) in the
/// middle of the month; the count starts again the next month.
#[test]
fn a_volume_tier_crossed_mid_month() {
    let b = Bot::new();
    let user = "+966501234567";
    let start = t("2026-08-01T00:00:00Z");
    let mut first_tiered = None;
    for n in 1..=100_001u32 {
        // About one message every 13 s: message 100 001 lands on 2026-08-16.
        let at = start + Duration::seconds(i64::from(n) * 13);
        let c = b.out_to(user, at, Some(Utility));
        if n == 1 {
            assert_eq!(c.price, d("0.0107"));
            assert_eq!(c.volume_tier_from, None);
        }
        if c.volume_tier_from.is_some() && first_tiered.is_none() {
            first_tiered = Some((n, at, c));
        }
    }
    let (n, at, c) = first_tiered.expect("the tier was reached");
    assert_eq!(n, 100_001);
    assert_eq!((at.month(), at.day()), (time::Month::August, 16));
    assert_eq!((c.price, c.volume_tier_from), (d("0.0102"), Some(100_001)));
    assert_eq!(c.rate_effective.as_deref(), Some("2026-07-01"));
    // September starts at the base rate again.
    let sept = b.out_to(user, t("2026-09-01T00:00:01Z"), Some(Utility));
    assert_eq!((sept.price, sept.volume_tier_from), (d("0.0107"), None));
}

/// A timeline replayed across the 2025-07-01 switch to per-message pricing
/// and the 2025-10-01 change (Colombia utility up): each line names the card
/// row it used.
#[test]
fn a_timeline_across_the_2025_changes() {
    let text = r#"{"at": "2025-06-30T10:00:00Z", "business": "+5491100000000", "user": "+573001234567", "dir": "out", "template": "utility", "entry_point": false}
{"at": "2025-07-02T10:00:00Z", "business": "+5491100000000", "user": "+573001234567", "dir": "out", "template": "utility", "entry_point": false}
{"at": "2025-07-02T11:00:00Z", "business": "+5491100000000", "user": "+573001234567", "dir": "out", "template": "utility", "entry_point": false}
{"at": "2025-10-02T10:00:00Z", "business": "+5491100000000", "user": "+573001234567", "dir": "out", "template": "utility", "entry_point": false}
"#;
    let lines = timeline::replay(&WhatsAppPricer::shipped(), text).unwrap();
    let col = |i: usize, k: &str| lines[i][k].as_str().map(str::to_owned);
    // CBP: one utility conversation, charged once at the 2024-10-01 rate.
    assert_eq!(col(0, "pricing_model").as_deref(), Some("CBP"));
    assert_eq!(col(0, "price_usd").as_deref(), Some("0.0002"));
    assert_eq!(col(0, "rate_effective").as_deref(), Some("2024-10-01"));
    // PMP: every utility template outside the window is charged, still 0.0002
    // (the 2025-07-01 card kept Colombia's utility rate until 2025-10-01).
    for i in [1, 2] {
        assert_eq!(col(i, "pricing_model").as_deref(), Some("PMP"));
        assert_eq!(col(i, "price_usd").as_deref(), Some("0.0002"));
    }
    // 2025-10-01: Colombia utility up.
    assert_eq!(col(3, "price_usd").as_deref(), Some("0.0008"));
    assert_eq!(col(3, "rate_effective").as_deref(), Some("2025-10-01"));
    assert_eq!(
        col(3, "rate_card").as_deref(),
        Some("Meta rate card effective 2025-10-01")
    );
    assert_eq!(lines[4]["total_usd"].as_str(), Some("0.0014"));
}

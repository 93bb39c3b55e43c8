//! The generated rules: `promtool check rules` accepts them, and
//! `promtool test rules` proves each alert fires above its threshold and
//! stays silent below it.

mod support_prom;

use chatobs_runtime::metrics::rules::{groups, prometheus_rules, PromRule};
use chatobs_runtime::Config;
use std::fmt::Write as _;

fn config() -> Config {
    Config::from_toml_str(
        r#"
[service]
name = "shop-bot"
[alerts.rules.big_prompt]
quantity = "llm_call_tokens"
above = 100000
severity = "info"
"#,
        None,
    )
    .unwrap()
}

fn rule<'a>(rules: &'a [PromRule], name: &str) -> &'a PromRule {
    rules
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no rule {name}"))
}

/// One expected firing alert: the rule's labels and annotations, templates filled with `extra`.
fn exp(rules: &[PromRule], name: &str, extra: &[(&str, &str)]) -> String {
    let r = rule(rules, name);
    let mut s = String::from("          - exp_labels:\n");
    for (k, v) in r
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra.iter().copied())
    {
        let _ = writeln!(
            s,
            "              {k}: {}",
            serde_json::to_string(v).unwrap()
        );
    }
    s.push_str("            exp_annotations:\n");
    for (k, v) in &r.annotations {
        let mut v = v.clone();
        for (lk, lv) in extra {
            v = v.replace(&format!("{{{{ $labels.{lk} }}}}"), lv);
        }
        let _ = writeln!(
            s,
            "              {k}: {}",
            serde_json::to_string(&v).unwrap()
        );
    }
    s
}

fn case(at: &str, alert: &str, exps: &[String]) -> String {
    let mut s = format!("      - eval_time: {at}\n        alertname: {alert}\n");
    if exps.is_empty() {
        s.push_str("        exp_alerts: []\n");
    } else {
        s.push_str("        exp_alerts:\n");
        for e in exps {
            s.push_str(e);
        }
    }
    s
}

#[test]
fn generated_rules_pass_promtool_check_and_unit_tests() {
    let cfg = config();
    let dir = tempfile::tempdir().unwrap();
    let rules_file = dir.path().join("chatobs.rules.yml");
    std::fs::write(&rules_file, prometheus_rules(&cfg)).unwrap();

    let (code, out) =
        support_prom::promtool(&["check", "rules", rules_file.to_str().unwrap()], None);
    assert_eq!(code, 0, "promtool check rules: {out}");
    assert!(out.contains("SUCCESS"), "{out}");

    let all: Vec<PromRule> = groups(&cfg).into_iter().flat_map(|g| g.rules).collect();
    let gpt_big = [
        ("gen_ai_provider_name", "openai"),
        ("gen_ai_request_model", "gpt-4o-big"),
    ];
    let mut t =
        String::from("rule_files:\n  - chatobs.rules.yml\nevaluation_interval: 1m\ntests:\n");

    // Budgets: per call (on the histogram's bucket at 0.05), per conversation
    // (over-budget counter), and a user rule (alerts fired counter).
    let m =
        |model: &str| format!(r#"gen_ai_provider_name="openai",gen_ai_request_model="{model}""#);
    t.push_str("  - interval: 1m\n    input_series:\n");
    for (model, under) in [("gpt-4o", "0+1x20"), ("gpt-4o-big", "0+0x20")] {
        let _ = writeln!(
            t,
            "      - series: 'chatobs_llm_call_cost_usd_count{{{}}}'\n        values: '0+1x20'",
            m(model)
        );
        let _ = writeln!(t, "      - series: 'chatobs_llm_call_cost_usd_bucket{{{},le=\"0.05\"}}'\n        values: '{under}'", m(model));
    }
    t.push_str("      - series: 'chatobs_conversations_over_budget_total{rule=\"conversation_budget\"}'\n        values: '0 0 0 0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1'\n");
    t.push_str("      - series: 'chatobs_alerts_fired_total{rule=\"big_prompt\",severity=\"info\"}'\n        values: '0 0 0 0 0 0 0 0 0 0 2 2 2 2 2 2 2 2 2 2 2'\n");
    t.push_str("    alert_rule_test:\n");
    // Calls of gpt-4o all cost <= 0.05: silent; every call of gpt-4o-big costs more: fires.
    t.push_str(&case(
        "10m",
        "LlmCallCost",
        &[exp(&all, "LlmCallCost", &gpt_big)],
    ));
    t.push_str(&case("4m", "ConversationBudget", &[]));
    t.push_str(&case(
        "8m",
        "ConversationBudget",
        &[exp(&all, "ConversationBudget", &[])],
    ));
    t.push_str(&case("18m", "ConversationBudget", &[])); // no new conversation over budget
    t.push_str(&case("8m", "BigPrompt", &[]));
    t.push_str(&case("12m", "BigPrompt", &[exp(&all, "BigPrompt", &[])]));

    // Operations.
    t.push_str("  - interval: 1m\n    input_series:\n");
    for (role, errors) in [("sales", "0+6x40"), ("pqr", "0+4x40")] {
        let _ = writeln!(t, "      - series: 'chatobs_span_errors_total{{agent_role=\"{role}\"}}'\n        values: '{errors}'");
        let _ = writeln!(t, "      - series: 'chatobs_spans_total{{agent_role=\"{role}\"}}'\n        values: '0+100x40'");
    }
    for (role, step, buckets) in [
        (
            "sales",
            "offer",
            [
                ("1", "0x40"),
                ("10", "0x40"),
                ("30", "0+10x40"),
                ("+Inf", "0+10x40"),
            ],
        ),
        (
            "classifier",
            "route",
            [
                ("1", "0+10x40"),
                ("10", "0+10x40"),
                ("30", "0+10x40"),
                ("+Inf", "0+10x40"),
            ],
        ),
    ] {
        for (le, v) in buckets {
            let _ = writeln!(t, "      - series: 'chatobs_span_duration_seconds_bucket{{agent_role=\"{role}\",conversation_step=\"{step}\",le=\"{le}\"}}'\n        values: '{v}'");
        }
    }
    t.push_str("      - series: 'chatobs_spans_dropped_total'\n        values: '0x10 0+5x30'\n");
    t.push_str("      - series: 'chatobs_alert_sink_failures_total{sink=\"webhook\"}'\n        values: '0x10 0+1x30'\n");
    t.push_str("      - series: 'chatobs_alert_sink_failures_total{sink=\"alertmanager\"}'\n        values: '0x40'\n");
    t.push_str("    alert_rule_test:\n");
    // sales: 6% errors, above 5% for 5m: fires; pqr: 4%: silent.
    t.push_str(&case("3m", "ChatobsErrorRateHigh", &[])); // not yet for 5m
    t.push_str(&case(
        "15m",
        "ChatobsErrorRateHigh",
        &[exp(
            &all,
            "ChatobsErrorRateHigh",
            &[("agent_role", "sales")],
        )],
    ));
    // sales/offer: every span between 10 and 30 s: p95 above 10 s; classifier: under 1 s.
    t.push_str(&case(
        "30m",
        "ChatobsSpanLatencyP95High",
        &[exp(
            &all,
            "ChatobsSpanLatencyP95High",
            &[("agent_role", "sales"), ("conversation_step", "offer")],
        )],
    ));
    // Dropping starts at 10m: silent before, firing once it lasted 5m.
    t.push_str(&case("9m", "ChatobsSpansDropped", &[]));
    t.push_str(&case(
        "25m",
        "ChatobsSpansDropped",
        &[exp(&all, "ChatobsSpansDropped", &[])],
    ));
    t.push_str(&case("9m", "ChatobsAlertSinkFailing", &[]));
    t.push_str(&case(
        "20m",
        "ChatobsAlertSinkFailing",
        &[exp(&all, "ChatobsAlertSinkFailing", &[("sink", "webhook")])],
    ));

    // SLO: 80% of turns fail, half of them slower than 5 s: every error burn
    // window fires; latency burns 0.5/0.05 = 10x: the 6h, 1d and 3d windows fire, 1h (14.4x) does not.
    t.push_str("  - interval: 1m\n    input_series:\n");
    t.push_str(
        "      - series: 'chatobs_turns_total{outcome=\"error\"}'\n        values: '0+80x130'\n",
    );
    t.push_str(
        "      - series: 'chatobs_turns_total{outcome=\"ok\"}'\n        values: '0+20x130'\n",
    );
    t.push_str("      - series: 'chatobs_turn_duration_seconds_bucket{le=\"5\"}'\n        values: '0+50x130'\n");
    t.push_str(
        "      - series: 'chatobs_turn_duration_seconds_count'\n        values: '0+100x130'\n",
    );
    t.push_str("    alert_rule_test:\n");
    for w in ["1H", "6H", "1D", "3D"] {
        let n = format!("ChatobsTurnErrorsBudgetBurn{w}");
        t.push_str(&case("120m", &n, &[exp(&all, &n, &[])]));
        let n = format!("ChatobsTurnLatencyBudgetBurn{w}");
        let e = if w == "1H" {
            vec![]
        } else {
            vec![exp(&all, &n, &[])]
        };
        t.push_str(&case("120m", &n, &e));
    }
    // 2% of turns fail (inside a 5% budget): no burn alert; 60% of the error budget is left.
    t.push_str("  - interval: 1m\n    input_series:\n");
    t.push_str(
        "      - series: 'chatobs_turns_total{outcome=\"error\"}'\n        values: '0+2x130'\n",
    );
    t.push_str(
        "      - series: 'chatobs_turns_total{outcome=\"ok\"}'\n        values: '0+98x130'\n",
    );
    t.push_str("    alert_rule_test:\n");
    for w in ["1H", "6H", "1D", "3D"] {
        t.push_str(&case(
            "120m",
            &format!("ChatobsTurnErrorsBudgetBurn{w}"),
            &[],
        ));
    }
    t.push_str("    promql_expr_test:\n      - expr: round(chatobs:turn_error_budget_remaining * 100)\n        eval_time: 120m\n        exp_samples:\n          - labels: '{}'\n            value: 60\n");

    let test_file = dir.path().join("chatobs.rules.test.yml");
    std::fs::write(&test_file, &t).unwrap();
    let (code, out) = support_prom::promtool(&["test", "rules", test_file.to_str().unwrap()], None);
    assert_eq!(code, 0, "promtool test rules:\n{out}\n--- tests:\n{t}");
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn per_call_thresholds_name_the_histogram_bucket() {
    let cfg = Config::from_toml_str(
        "[alerts.rules.llm_call_cost]\nquantity = \"llm_call_cost_usd\"\nabove = 0.2\n[alerts.rules.tiny]\nquantity = \"llm_call_cost_usd\"\nabove = \"0.0025\"\n",
        None,
    )
    .unwrap();
    let y = prometheus_rules(&cfg);
    assert!(
        y.contains(r#"chatobs_llm_call_cost_usd_bucket{le=\"0.2\"}"#),
        "{y}"
    );
    assert!(
        y.contains(r#"chatobs_llm_call_cost_usd_bucket{le=\"0.0025\"}"#),
        "{y}"
    );
    let (call, _, _) = chatobs_runtime::metrics::bounds_of(&cfg);
    assert!(call.contains(&0.2) && call.contains(&0.0025), "{call:?}");
}

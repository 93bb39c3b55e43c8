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
        y.contains(r#"chatobs_llm_call_cost_usd_bucket{le="0.2"}"#),
        "{y}"
    );
    assert!(
        y.contains(r#"chatobs_llm_call_cost_usd_bucket{le="0.0025"}"#),
        "{y}"
    );
    let (call, _, _) = chatobs_runtime::metrics::bounds_of(&cfg);
    assert!(call.contains(&0.2) && call.contains(&0.0025), "{call:?}");
}

/// `exp` with the `$value` templates filled as Prometheus renders them.
fn exp_v(
    rules: &[PromRule],
    name: &str,
    labels: &[(&str, &str)],
    value: &[(&str, &str)],
) -> String {
    let mut e = exp(rules, name, labels);
    for (tpl, rendered) in value {
        // As written in the JSON-quoted annotation (quotes escaped).
        let esc = serde_json::to_string(tpl).unwrap();
        e = e.replace(&esc[1..esc.len() - 1], rendered);
    }
    e
}

/// The rules the seeds' operators ask for: HTTP 5xx ratio and p95 by route,
/// LLM error ratio by provider and type, spend in the last hour (absolute
/// and against the same hour a week before), exporter failures, a service
/// that stopped reporting. Each fires above its threshold and stays silent
/// below; each description names the value, each links the runbook.
#[test]
fn service_rules_fire_above_and_stay_silent_below() {
    let cfg = config();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("chatobs.rules.yml"), prometheus_rules(&cfg)).unwrap();
    let all: Vec<PromRule> = groups(&cfg).into_iter().flat_map(|g| g.rules).collect();
    for n in [
        "ChatobsHttp5xxRatioHigh",
        "ChatobsHttpLatencyP95High",
        "ChatobsLlmErrorRatioHigh",
        "ChatobsSpendHourHigh",
        "ChatobsSpendSpike",
        "ChatobsExportFailing",
        "ChatobsNotReporting",
    ] {
        let r = rule(&all, n);
        let ann = |k: &str| {
            r.annotations
                .iter()
                .find(|(a, _)| a == k)
                .map(|(_, v)| v.clone())
        };
        assert!(
            ann("description").is_some_and(|d| d.contains("$value")),
            "{n}"
        );
        let anchor = n.to_ascii_lowercase();
        assert_eq!(
            ann("runbook_url"),
            Some(format!("docs/runbook.md#{anchor}")),
            "{n}"
        );
        // The runbook has that section.
        let runbook = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/runbook.md"),
        )
        .unwrap();
        assert!(
            runbook.contains(&format!("<a id=\"{anchor}\"></a>")),
            "runbook section {anchor}"
        );
    }
    let pct = "{{ $value | humanizePercentage }}";
    let usd = "{{ $value | printf \"%.2f\" }}";
    let mut t =
        String::from("rule_files:\n  - chatobs.rules.yml\nevaluation_interval: 1m\ntests:\n");
    // HTTP: /webhook/whatsapp answers half its requests with 500; /orders none.
    t.push_str("  - interval: 1m\n    input_series:\n");
    let h = "http_server_request_duration_seconds";
    for (route, status, v) in [
        ("/webhook/whatsapp", "200", "0+5x40"),
        ("/webhook/whatsapp", "500", "0+5x40"),
        ("/orders", "200", "0+10x40"),
    ] {
        let _ = writeln!(t, "      - series: '{h}_count{{http_request_method=\"POST\",http_route=\"{route}\",http_response_status_code=\"{status}\"}}'\n        values: '{v}'");
    }
    // /slow: every request between 2.5 and 5 s (p95 4.875 s); /fast: under 0.1 s.
    for (route, buckets) in [
        (
            "/slow",
            [
                ("0.1", "0x40"),
                ("2.5", "0x40"),
                ("5", "0+10x40"),
                ("+Inf", "0+10x40"),
            ],
        ),
        (
            "/fast",
            [
                ("0.1", "0+10x40"),
                ("2.5", "0+10x40"),
                ("5", "0+10x40"),
                ("+Inf", "0+10x40"),
            ],
        ),
    ] {
        for (le, v) in buckets {
            let _ = writeln!(t, "      - series: '{h}_bucket{{http_request_method=\"GET\",http_route=\"{route}\",http_response_status_code=\"200\",le=\"{le}\"}}'\n        values: '{v}'");
        }
    }
    // LLM: a fifth of Gemini's calls hit 429; OpenAI's never fail.
    t.push_str("      - series: 'chatobs_llm_errors_total{gen_ai_provider_name=\"gcp.gemini\",error_type=\"429\"}'\n        values: '0+2x40'\n");
    for p in ["gcp.gemini", "openai"] {
        let _ = writeln!(t, "      - series: 'gen_ai_client_operation_duration_seconds_count{{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"{p}\",gen_ai_request_model=\"m\"}}'\n        values: '0+10x40'");
    }
    // Export failures from 20m.
    t.push_str(
        "      - series: 'chatobs_span_export_failures_total'\n        values: '0x20 0+10x20'\n",
    );
    // The bot's job reports until 30m, then stops.
    t.push_str("      - series: 'chatobs_span_queue_spans{job=\"chatobs\",instance=\"gw-1\"}'\n        values: '0x30'\n");
    t.push_str("      - series: 'up{job=\"chatobs\",instance=\"gw-1\"}'\n        values: '1x30'\n");
    t.push_str("    alert_rule_test:\n");
    t.push_str(&case("3m", "ChatobsHttp5xxRatioHigh", &[]));
    t.push_str(&case(
        "15m",
        "ChatobsHttp5xxRatioHigh",
        &[exp_v(
            &all,
            "ChatobsHttp5xxRatioHigh",
            &[("http_route", "/webhook/whatsapp")],
            &[(pct, "50%")],
        )],
    ));
    t.push_str(&case(
        "25m",
        "ChatobsHttpLatencyP95High",
        &[exp_v(
            &all,
            "ChatobsHttpLatencyP95High",
            &[("http_route", "/slow")],
            &[("{{ $value | humanizeDuration }}", "4.875s")],
        )],
    ));
    t.push_str(&case("3m", "ChatobsLlmErrorRatioHigh", &[]));
    t.push_str(&case(
        "15m",
        "ChatobsLlmErrorRatioHigh",
        &[exp_v(
            &all,
            "ChatobsLlmErrorRatioHigh",
            &[
                ("gen_ai_provider_name", "gcp.gemini"),
                ("error_type", "429"),
            ],
            &[(pct, "20%")],
        )],
    ));
    t.push_str(&case("19m", "ChatobsExportFailing", &[]));
    t.push_str(&case(
        "35m",
        "ChatobsExportFailing",
        &[exp_v(
            &all,
            "ChatobsExportFailing",
            &[],
            &[("{{ $value }}", "100")],
        )],
    ));
    t.push_str(&case("20m", "ChatobsNotReporting", &[]));
    t.push_str(&case(
        "45m",
        "ChatobsNotReporting",
        &[exp_v(
            &all,
            "ChatobsNotReporting",
            &[("job", "chatobs")],
            &[("{{ $value }}", "1")],
        )],
    ));
    // Spend: 0.6 USD an hour for a week, then 6 USD in one hour: 10x the
    // same hour a week before (a spike), under the 10 USD absolute limit;
    // then 12 USD an hour: above it.
    t.push_str("  - interval: 10m\n    input_series:\n");
    t.push_str("      - series: 'chatobs_llm_cost_usd_total{gen_ai_provider_name=\"gcp.gemini\",gen_ai_request_model=\"gemini-1.5-flash\"}'\n        values: '0+0.1x1008 101.8+1x5 107.8+2x12'\n");
    t.push_str("    alert_rule_test:\n");
    t.push_str(&case("1000m", "ChatobsSpendSpike", &[]));
    t.push_str(&case(
        "10140m",
        "ChatobsSpendSpike",
        &[exp_v(&all, "ChatobsSpendSpike", &[], &[(usd, "6.00")])],
    ));
    t.push_str(&case("10140m", "ChatobsSpendHourHigh", &[]));
    t.push_str(&case(
        "10260m",
        "ChatobsSpendHourHigh",
        &[exp_v(&all, "ChatobsSpendHourHigh", &[], &[(usd, "12.00")])],
    ));
    let test_file = dir.path().join("service.rules.test.yml");
    std::fs::write(&test_file, &t).unwrap();
    let (code, out) = support_prom::promtool(&["test", "rules", test_file.to_str().unwrap()], None);
    assert_eq!(code, 0, "promtool test rules:\n{out}\n--- tests:\n{t}");
    assert!(out.contains("SUCCESS"), "{out}");
}

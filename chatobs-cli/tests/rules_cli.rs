//! `chatobs rules`: YAML that `promtool check rules` accepts, derived from the config file.

use std::process::Command;

fn promtool() -> std::path::PathBuf {
    let p = std::path::PathBuf::from("/usr/bin/promtool");
    if p.is_file() {
        return p;
    }
    which("promtool").unwrap_or_else(|| {
        panic!("`promtool` is not installed: apt-get update && apt-get install -y --no-install-recommends prometheus prometheus-alertmanager")
    })
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

#[test]
fn rules_from_a_config_file_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bot.toml");
    std::fs::write(
        &cfg,
        "[service]\nname = \"shop-bot\"\n[alerts.rules.llm_call_cost]\nquantity = \"llm_call_cost_usd\"\nabove = 0.02\n[alerts.rules.whatsapp_spend]\nquantity = \"conversation_whatsapp_cost_usd\"\nabove = 0.5\n[slo]\nturn_success_objective = 0.99\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chatobs"))
        .args(["rules", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    assert!(
        yaml.contains(r#"chatobs_llm_call_cost_usd_bucket{le="0.02"}"#),
        "{yaml}"
    );
    assert!(yaml.contains(r#"chatobs_conversations_over_budget_total{rule="whatsapp_spend"}"#));
    assert!(yaml.contains("service: shop-bot"));
    // 99% objective: the fast burn alert fires at 14.4 x 1% error ratio.
    assert!(
        yaml.contains(
            "chatobs:turn_error_ratio:rate1h > 0.144 and chatobs:turn_error_ratio:rate5m > 0.144"
        ),
        "{yaml}"
    );
    let f = dir.path().join("rules.yml");
    std::fs::write(&f, &yaml).unwrap();
    let check = Command::new(promtool())
        .args(["check", "rules", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn a_bad_rule_is_reported_with_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bot.toml");
    std::fs::write(
        &cfg,
        "[alerts.rules.Bad-Name]\nquantity = \"llm_call_cost_usd\"\nabove = 1\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chatobs"))
        .args(["rules", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bot.toml") && err.contains("alerts.rules.Bad-Name"),
        "{err}"
    );
}

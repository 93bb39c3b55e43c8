//! One conversation total and one budget alert across replicas and services,
//! with a real `redis-server` on 127.0.0.1 and three OS processes: two
//! gateway replicas (each sends the WhatsApp templates of the turns the
//! round-robin gives it) and one agents service (every LLM call), playing
//! 120 conversations at once, several turns each, the turns of one
//! conversation landing on both replicas. Then: every conversation's shared
//! total equals its LLM and WhatsApp costs to the last decimal, and the
//! per-conversation budget alert fired exactly once for each conversation
//! that crossed it (on whichever process crossed it) and never for the others.
//! A second test stops Redis mid-run and starts it again: nothing waits,
//! the outage is counted, and the totals converge.
//!
//! The children are this test binary run again (`CHATOBS_STATE_CHILD` says
//! which role); `redis-server` is installed by `scripts/test`.

use chatobs_runtime::cost::shared::{Parts, SharedLedger};
use chatobs_runtime::cost::{self, LlmCall, OffsetDateTime, Outbound};
use chatobs_runtime::state::{RedisLedger, StateConfig};
use chatobs_runtime::{ChatSession, Config, Decimal, TemplateCategory};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

const CONVERSATIONS: usize = 120;
const BUSINESS: &str = "106540352242922";
/// The budget: conversations of 6 turns cross it, those of 2 do not.
const BUDGET: &str = "0.09";

fn turns(i: usize) -> usize {
    if i.is_multiple_of(2) {
        6
    } else {
        2
    }
}

fn user(i: usize) -> String {
    format!("5730012{i:05}")
}

/// A delivery time on the 2026-10-01 card (marketing to Colombia).
fn at() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_793_000_000).unwrap()
}

fn llm() -> LlmCall {
    LlmCall::new("gpt-4o-mini")
        .provider("openai")
        .input_tokens(12_000)
        .output_tokens(1_500)
}

fn outbound(i: usize) -> (String, Outbound<'static>) {
    let u: &'static str = Box::leak(user(i).into_boxed_str());
    (
        u.to_owned(),
        Outbound {
            business: BUSINESS,
            user: u,
            at: at(),
            template: Some(TemplateCategory::Marketing),
            entry_point: false,
        },
    )
}

// ---- a redis-server of the test's own ---------------------------------------------------------

struct Redis {
    port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Redis {
    fn start() -> Redis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut r = Redis {
            port,
            child: None,
            dir: tempfile::tempdir().unwrap(),
        };
        r.up();
        r
    }

    fn up(&mut self) {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                // Persistent like a production Redis: a restart keeps the totals.
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                &self.dir.path().display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/test installs it: apt-get install redis-server)");
        self.child = Some(child);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not answer on 127.0.0.1:{}", self.port);
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut b = [0u8; 7];
        s.read_exact(&mut b).is_ok() && &b == b"+PONG\r\n"
    }

    fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.down();
    }
}

// ---- the three processes ----------------------------------------------------------------------

fn config(url: &str) -> Config {
    Config::from_toml_str(
        &format!(
            r#"
[exporter]
kinds = ["memory"]
[logs]
format = "off"
[state]
url = "{url}"
timeout_ms = 200
[alerts.rules.conversation_budget]
above = "{BUDGET}"
"#
        ),
        None,
    )
    .unwrap()
}

/// What one child does: its share of every conversation's turns, from 4
/// threads at once. Prints `FIRED <conversation>` for each budget alert.
fn child(role: &str, url: &str) {
    chatobs_runtime::context::set_session_key(b"state-redis-test-key-0000000042").unwrap();
    let guard = chatobs_runtime::init(config(url)).unwrap();
    let work: Vec<(usize, usize)> = (0..CONVERSATIONS)
        .flat_map(|i| (0..turns(i)).map(move |t| (i, t)))
        .filter(|(i, t)| match role {
            "gateway-a" => (i + t) % 2 == 0,
            "gateway-b" => (i + t) % 2 == 1,
            _ => true,
        })
        .collect();
    std::thread::scope(|s| {
        for part in work.chunks(work.len().div_ceil(4)) {
            s.spawn(move || {
                for (i, _) in part {
                    let session = ChatSession::from_exported_id(&format!("conv-{i}")).unwrap();
                    session.in_scope(|| {
                        if role == "agents" {
                            cost::record_llm_call(&llm()).unwrap();
                        } else {
                            let (_, o) = outbound(*i);
                            cost::price_outbound(&o).unwrap();
                        }
                    });
                }
            });
        }
    });
    // Shared additions are answered on the state thread (off the request
    // path), and the budget alert fires there: wait for both.
    assert!(chatobs_runtime::state::ledger()
        .unwrap()
        .flush(Duration::from_secs(20)));
    let e = chatobs_runtime::alerts::current().unwrap();
    assert!(e.wait_idle(Duration::from_secs(10)));
    for a in e.recent() {
        if a.rule == "conversation_budget" {
            println!("FIRED {}", a.session_id.unwrap_or_default());
        }
    }
    let s = cost::shared::stats();
    println!(
        "STATS added={} failed={} refused={}",
        s.added, s.failed, s.refused
    );
    drop(guard);
}

#[test]
fn child_process() {
    // Runs only as a child of the tests below.
    if let (Ok(role), Ok(url)) = (
        std::env::var("CHATOBS_STATE_CHILD"),
        std::env::var("CHATOBS_STATE_CHILD_URL"),
    ) {
        child(&role, &url);
    }
}

fn spawn(role: &str, url: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("CHATOBS_STATE_CHILD", role)
        .env("CHATOBS_STATE_CHILD_URL", url)
        .env_remove("CHATOBS_SESSION_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Each child's output, after it exited successfully.
fn finish(children: Vec<(String, Child)>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (role, c) in children {
        let o = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            o.status.success(),
            "{role} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        out.insert(role, stdout);
    }
    out
}

/// The unit prices, from the same engine the children use.
fn unit_prices() -> (Decimal, Decimal) {
    // Recorded outside any conversation: priced, added to nothing.
    let llm_usd = cost::record_llm_call(&llm()).unwrap().total;
    let (_, o) = outbound(0);
    let wa = cost::price_outbound(&o).unwrap().price;
    (llm_usd, wa)
}

fn ledger(url: &str) -> RedisLedger {
    let cfg = StateConfig {
        url: url.into(),
        timeout_ms: 2_000,
        ..StateConfig::default()
    };
    RedisLedger::start(&cfg).unwrap()
}

#[test]
fn two_replicas_and_an_agents_service_share_one_total_and_one_alert() {
    if std::env::var_os("CHATOBS_STATE_CHILD").is_some() {
        return;
    }
    let redis = Redis::start();
    let url = redis.url();
    let children: Vec<(String, Child)> = ["gateway-a", "gateway-b", "agents"]
        .into_iter()
        .map(|r| (r.to_owned(), spawn(r, &url)))
        .collect();
    let out = finish(children);

    let (llm_usd, wa_usd) = unit_prices();
    assert!(llm_usd > Decimal::ZERO && wa_usd > Decimal::ZERO);
    let budget = Decimal::from_str(BUDGET).unwrap();
    let shared = ledger(&url);
    let mut crossing = BTreeSet::new();
    for i in 0..CONVERSATIONS {
        let n = Decimal::from(turns(i) as u64);
        let p: Parts = shared.get(&format!("conv-{i}")).unwrap();
        assert_eq!(Parts::usd(p.llm_pico), llm_usd * n, "conv-{i} LLM");
        assert_eq!(Parts::usd(p.whatsapp_pico), wa_usd * n, "conv-{i} WhatsApp");
        assert_eq!(p.llm_calls, turns(i) as i64, "conv-{i} calls");
        if (llm_usd + wa_usd) * n > budget {
            crossing.insert(format!("conv-{i}"));
        }
    }
    assert_eq!(crossing.len(), CONVERSATIONS / 2, "the 6-turn ones cross");

    // Exactly once per crossing conversation, across the three processes.
    let mut fired: Vec<String> = Vec::new();
    let mut by_role = BTreeMap::new();
    for (role, stdout) in &out {
        let f: Vec<String> = stdout
            .lines()
            // The harness may print its own words before a line.
            .filter_map(|l| l.split("FIRED ").nth(1))
            .map(|s| s.trim().to_owned())
            .collect();
        by_role.insert(role.clone(), f.len());
        fired.extend(f);
        let stats = stdout
            .lines()
            .find(|l| l.contains("STATS "))
            .unwrap_or_else(|| panic!("{role}: no STATS in {stdout}"));
        assert!(stats.contains("failed=0 refused=0"), "{role}: {stats}");
    }
    let unique: BTreeSet<String> = fired.iter().cloned().collect();
    assert_eq!(fired.len(), unique.len(), "an alert fired twice: {fired:?}");
    assert_eq!(unique, crossing, "alerts by process: {by_role:?}");
    // Which process crossed depends on the interleaving (printed for the record).
    println!("budget alerts by process: {by_role:?}");
}

#[test]
fn redis_stopped_and_started_mid_run_never_blocks_and_totals_converge() {
    if std::env::var_os("CHATOBS_STATE_CHILD").is_some() {
        return;
    }
    let mut redis = Redis::start();
    let url = redis.url();
    let cfg = StateConfig {
        url: url.clone(),
        timeout_ms: 100,
        ..StateConfig::default()
    };
    let l = std::sync::Arc::new(RedisLedger::start(&cfg).unwrap());
    let add = |n: i64, op: u128| {
        let t = Instant::now();
        let r = l.add(
            "conv-outage",
            op,
            chatobs_runtime::cost::shared::Delta {
                llm_pico: n,
                ..Default::default()
            },
        );
        // Never beyond the budget (and a little scheduling slack).
        assert!(
            t.elapsed() < Duration::from_millis(400),
            "{:?}",
            t.elapsed()
        );
        r
    };
    assert!(add(1_000, 1).is_ok());
    redis.down();
    let mut failed = 0;
    for op in 2..=21u128 {
        if add(1_000, op).is_err() {
            failed += 1;
        }
    }
    assert!(failed > 0, "the outage was seen");
    assert!(l.is_degraded());
    // What the callers handed over without waiting is queued by now.
    assert!(l.flush(Duration::from_secs(5)));
    let s = l.stats();
    assert!(s.outages >= 1 && s.pending > 0, "{s:?}");
    redis.up();
    // Converges: every queued addition replayed once.
    let t = Instant::now();
    loop {
        if let Ok(p) = l.get("conv-outage") {
            if p.llm_pico == 21_000 && l.stats().pending == 0 {
                break;
            }
        }
        assert!(t.elapsed() < Duration::from_secs(15), "{:?}", l.stats());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!l.is_degraded());
    // A retried addition (same op) counts once.
    assert!(add(1_000, 21).is_ok());
    assert_eq!(l.get("conv-outage").unwrap().llm_pico, 21_000);
}

#[test]
fn an_unreachable_redis_is_degraded_on_ready_and_never_blocks_a_priced_event() {
    if std::env::var_os("CHATOBS_STATE_CHILD").is_some() {
        return;
    }
    chatobs_runtime::context::set_session_key(b"state-redis-test-key-0000000042").unwrap();
    // Nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _guard = chatobs_runtime::init(config(&format!("redis://127.0.0.1:{port}/0"))).unwrap();
    let session = ChatSession::from_exported_id("conv-no-redis").unwrap();
    for _ in 0..5 {
        let t = Instant::now();
        session.in_scope(|| cost::record_llm_call(&llm()).unwrap());
        // `timeout_ms = 200`, and no wait at all once degraded.
        assert!(
            t.elapsed() < Duration::from_millis(600),
            "{:?}",
            t.elapsed()
        );
    }
    // Counted in the process all the same.
    assert_eq!(cost::session_totals(&session).llm_calls, 5);
    let l = chatobs_runtime::state::ledger().expect("the ledger init started");
    let t = Instant::now();
    while !l.is_degraded() {
        assert!(t.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = chatobs_runtime::integrations::health::readiness(&Default::default());
    let j = r.to_json();
    assert_eq!(j["checks"]["state"], "degraded", "{j}");
    assert!(r.ready, "a degraded store keeps the replica ready: {j}");
    assert!(
        j["details"]["state"]
            .as_str()
            .is_some_and(|d| d.contains("queued for replay")),
        "{j}"
    );
    // The five additions wait for Redis, to be replayed when it answers.
    assert!(l.flush(Duration::from_secs(5)));
    assert_eq!(l.stats().pending, 5, "{:?}", l.stats());
}

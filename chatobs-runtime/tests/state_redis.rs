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

/// A child's configuration: spans in memory, no log lines, state in Redis
/// at `url`, plus `extra` sections.
fn config_with(url: &str, timeout_ms: u64, extra: &str) -> Config {
    Config::from_toml_str(
        &format!(
            "[exporter]\nkinds = [\"memory\"]\n[logs]\nformat = \"off\"\n[state]\nurl = \"{url}\"\ntimeout_ms = {timeout_ms}\n{extra}"
        ),
        None,
    )
    .unwrap()
}

fn config(url: &str) -> Config {
    config_with(
        url,
        200,
        &format!("[alerts.rules.conversation_budget]\nabove = \"{BUDGET}\"\n"),
    )
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
        match role.as_str() {
            "lc-gateway-a" | "lc-gateway-b" => lifecycle_gateway(&role, &url),
            "lc-sweeper-1" | "lc-sweeper-2" => lifecycle_sweeper(&role, &url),
            _ => child(&role, &url),
        }
    }
}

fn spawn(role: &str, url: &str) -> Child {
    spawn_with(role, url, "")
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

    // Conversations and WhatsApp windows are decided in the process, within
    // the budget each, counted (and logged once).
    let user = cost::conversation::whatsapp_user(BUSINESS, "573001112233");
    for _ in 0..3 {
        let t = Instant::now();
        let s = cost::conversation::on_inbound(&user);
        s.in_scope(|| {
            cost::record_inbound(&cost::Inbound {
                business: BUSINESS,
                user: "573001112233",
                at: at(),
                entry_point: false,
            });
            let c = cost::price_outbound(&Outbound {
                business: BUSINESS,
                user: "573001112233",
                at: at(),
                template: Some(TemplateCategory::Utility),
                entry_point: false,
            })
            .unwrap();
            // Inside the window the user just opened (in this process): free.
            assert_eq!(c.price, Decimal::ZERO, "{c:?}");
        });
        assert!(
            t.elapsed() < Duration::from_millis(1_500),
            "{:?}",
            t.elapsed()
        );
    }
    assert!(cost::conversation::stats().local_fallbacks >= 1);
    assert!(cost::whatsapp::shared_window_failures() >= 1);
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
    // The additions wait for Redis, to be replayed when it answers: the five
    // LLM calls and the three turns' message counts (in and out).
    assert!(l.flush(Duration::from_secs(5)));
    assert_eq!(l.stats().pending, 5 + 3 + 3, "{:?}", l.stats());
}

// ---- the conversation lifecycle and the WhatsApp windows across processes ---------------------
//
// 100 users, 4 turns each, 6 hours apart (message time): the user writes
// (or, for every 7th user, the bot first sends a template), the bot calls an
// LLM and answers with a free-form message or a utility, marketing or
// authentication template. Turn t of user i runs on gateway (i + t) % 2, so
// each user's turns alternate between two OS processes (rounds kept in step
// through files). A third of the users are on the 2025 conversation-based
// card, the others per-message; every 5th came from a free entry point.
// Then two sweeper processes started after the gateways exited close every
// conversation exactly once between them, with its totals.

const LC_USERS: usize = 100;
const LC_TURNS: usize = 4;

fn lc_user(i: usize) -> String {
    format!("5730155{i:05}")
}

/// One turn: the inbound message (time, free entry point) if the user
/// wrote, and the reply (time, template).
fn lc_step(
    i: usize,
    t: usize,
) -> (
    Option<(OffsetDateTime, bool)>,
    OffsetDateTime,
    Option<TemplateCategory>,
) {
    // 2025-04-30 (conversation-based) or 2025-07-08 (per-message).
    let base: i64 = if i.is_multiple_of(3) {
        1_746_000_000
    } else {
        1_752_000_000
    };
    let at = base + (t as i64) * 6 * 3600 + (i as i64) * 7;
    let proactive = i.is_multiple_of(7) && t == 0;
    let inbound = (!proactive).then(|| {
        (
            OffsetDateTime::from_unix_timestamp(at).unwrap(),
            i.is_multiple_of(5) && t == 0,
        )
    });
    let template = match (i + t) % 4 {
        _ if proactive => Some(TemplateCategory::Marketing),
        0 => None,
        1 => Some(TemplateCategory::Utility),
        2 => Some(TemplateCategory::Marketing),
        _ => Some(TemplateCategory::Authentication),
    };
    (
        inbound,
        OffsetDateTime::from_unix_timestamp(at + 60).unwrap(),
        template,
    )
}

fn lc_llm() -> LlmCall {
    LlmCall::new("gpt-4o-mini")
        .provider("openai")
        .input_tokens(2_000)
        .output_tokens(300)
}

fn lc_config(url: &str) -> Config {
    config_with(
        url,
        2000,
        "[session]\nclose_after_seconds = 2\nsweep_every_seconds = 3600\n",
    )
}

/// The decision line both the gateways and the single-process replay print.
fn lc_decision(c: &chatobs_runtime::cost::WhatsAppCharge) -> String {
    format!(
        "{} {} {} {}",
        c.pricing_type.as_str(),
        c.free_by.map_or("-", |f| f.as_str()),
        c.category.as_str(),
        c.price
    )
}

fn barrier(dir: &str, role: &str, round: usize) {
    std::fs::write(format!("{dir}/{role}-{round}"), b"done").unwrap();
    let other = if role.ends_with('a') {
        "lc-gateway-b"
    } else {
        "lc-gateway-a"
    };
    let t = Instant::now();
    while !std::path::Path::new(&format!("{dir}/{other}-{round}")).exists() {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "{other} never finished round {round}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn lifecycle_gateway(role: &str, url: &str) {
    use chatobs_runtime::cost::{conversation, Inbound};
    chatobs_runtime::context::set_session_key(b"state-redis-test-key-0000000042").unwrap();
    let dir = std::env::var("CHATOBS_LC_DIR").unwrap();
    let guard = chatobs_runtime::init(lc_config(url)).unwrap();
    let mine = usize::from(role.ends_with('b'));
    for t in 0..LC_TURNS {
        let users: Vec<usize> = (0..LC_USERS).filter(|i| (i + t) % 2 == mine).collect();
        std::thread::scope(|s| {
            for part in users.chunks(users.len().div_ceil(4)) {
                s.spawn(move || {
                    for &i in part {
                        let u = lc_user(i);
                        let key = conversation::whatsapp_user(BUSINESS, &u);
                        let (inbound, reply_at, template) = lc_step(i, t);
                        let session = if inbound.is_some() {
                            conversation::on_inbound(&key)
                        } else {
                            conversation::on_outbound(&key)
                        };
                        session.in_scope(|| {
                            if let Some((at, entry_point)) = inbound {
                                cost::record_inbound(&Inbound {
                                    business: BUSINESS,
                                    user: &u,
                                    at,
                                    entry_point,
                                });
                            }
                            cost::record_llm_call(&lc_llm()).unwrap();
                            let c = cost::price_outbound(&Outbound {
                                business: BUSINESS,
                                user: &u,
                                at: reply_at,
                                template,
                                entry_point: false,
                            })
                            .unwrap();
                            println!("STEP {i} {t} {} {}", session.id(), lc_decision(&c));
                        });
                        if t == LC_TURNS - 1 && i.is_multiple_of(10) {
                            conversation::set_outcome(&session, "sale");
                        }
                    }
                });
            }
        });
        barrier(&dir, role, t);
    }
    assert!(chatobs_runtime::state::ledger()
        .unwrap()
        .flush(Duration::from_secs(20)));
    println!(
        "WINDOW_FAILURES {} LC_FALLBACKS {}",
        cost::whatsapp::shared_window_failures(),
        conversation::stats().local_fallbacks
    );
    // A shared store: stopping does not close anything (another process will).
    drop(guard);
}

fn lifecycle_sweeper(role: &str, url: &str) {
    use chatobs_runtime::cost::conversation;
    chatobs_runtime::context::set_session_key(b"state-redis-test-key-0000000042").unwrap();
    let guard = chatobs_runtime::init(lc_config(url)).unwrap();
    // Both sweepers race for the same due conversations.
    let mut n = 0;
    for _ in 0..20 {
        n += conversation::sweep();
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("SWEPT {n}");
    let spans = guard.memory_spans();
    let num = |s: &chatobs_runtime::FinishedSpan, k: &str| match s.attr(k) {
        Some(v) => match (v.as_decimal(), v.as_i64()) {
            (Some(d), _) => d.normalize().to_string(),
            (None, Some(n)) => n.to_string(),
            _ => String::new(),
        },
        None => String::new(),
    };
    for s in spans
        .iter()
        .filter(|s| s.name == chatobs_runtime::vocab::CONVERSATION_CLOSED)
    {
        use chatobs_runtime::vocab as v;
        println!(
            "CLOSED {} {} llm={} wa={} in={} out={} turns={} calls={} reason={} outcome={}",
            s.session_id().unwrap_or(""),
            s.attr_str(v::USER_ID).unwrap_or(""),
            num(s, v::CHAT_SESSION_COST_LLM_USD),
            num(s, v::CHAT_SESSION_COST_WHATSAPP_USD),
            num(s, v::CHAT_SESSION_MESSAGES_INBOUND),
            num(s, v::CHAT_SESSION_MESSAGES_OUTBOUND),
            num(s, v::CHAT_SESSION_TURNS),
            num(s, v::CHAT_SESSION_LLM_CALLS),
            s.attr_str(v::CHAT_SESSION_CLOSE_REASON).unwrap_or(""),
            s.attr_str(v::CHAT_SESSION_OUTCOME).unwrap_or(""),
        );
    }
    if role == "lc-sweeper-1" {
        // The user's next message opens a new conversation.
        let key = conversation::whatsapp_user(BUSINESS, &lc_user(1));
        let s = conversation::on_inbound(&key);
        println!("NEW {} {}", s.id(), s.user_id().unwrap_or(""));
    }
    drop(guard);
}

fn spawn_with(role: &str, url: &str, dir: &str) -> Child {
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
        .env("CHATOBS_LC_DIR", dir)
        .env_remove("CHATOBS_SESSION_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn conversations_and_windows_are_one_across_replicas_and_close_once_after_a_restart() {
    use chatobs_runtime::cost::{Inbound, WhatsAppPricer};
    if std::env::var_os("CHATOBS_STATE_CHILD").is_some() {
        return;
    }
    chatobs_runtime::context::set_session_key(b"state-redis-test-key-0000000042").unwrap();
    let redis = Redis::start();
    let url = redis.url();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let out = finish(
        ["lc-gateway-a", "lc-gateway-b"]
            .into_iter()
            .map(|r| (r.to_owned(), spawn_with(r, &url, &d)))
            .collect(),
    );
    let mut steps: BTreeMap<(usize, usize), (String, String)> = BTreeMap::new();
    for (role, stdout) in &out {
        for l in stdout.lines().filter_map(|l| l.split("STEP ").nth(1)) {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (i, t): (usize, usize) = (f[0].parse().unwrap(), f[1].parse().unwrap());
            assert_eq!((i + t) % 2, usize::from(role.ends_with('b')), "{role} {l}");
            steps.insert((i, t), (f[2].to_owned(), f[3..].join(" ")));
        }
        assert!(
            stdout.contains("WINDOW_FAILURES 0 LC_FALLBACKS 0"),
            "{role}: {stdout}"
        );
    }
    assert_eq!(steps.len(), LC_USERS * LC_TURNS);

    // One conversation id per user, the same on both replicas, none shared.
    let mut ids = BTreeMap::new();
    for ((i, _), (id, _)) in &steps {
        let prev = ids.entry(*i).or_insert_with(|| id.clone());
        assert_eq!(prev, id, "user {i} got two conversations");
    }
    let distinct: BTreeSet<&String> = ids.values().collect();
    assert_eq!(distinct.len(), LC_USERS);

    // The window decisions equal one process replaying the same timeline.
    let replay = WhatsAppPricer::shipped();
    let (mut differ, mut kinds) = (Vec::new(), BTreeSet::new());
    let mut wa_total: BTreeMap<usize, Decimal> = BTreeMap::new();
    let mut inbound_n: BTreeMap<usize, i64> = BTreeMap::new();
    for t in 0..LC_TURNS {
        for i in 0..LC_USERS {
            let u = lc_user(i);
            let (inbound, reply_at, template) = lc_step(i, t);
            if let Some((at, entry_point)) = inbound {
                replay.inbound(&Inbound {
                    business: BUSINESS,
                    user: &u,
                    at,
                    entry_point,
                });
                *inbound_n.entry(i).or_default() += 1;
            }
            let c = replay
                .outbound(&Outbound {
                    business: BUSINESS,
                    user: &u,
                    at: reply_at,
                    template,
                    entry_point: false,
                })
                .unwrap();
            *wa_total.entry(i).or_default() += c.price;
            let want = lc_decision(&c);
            kinds.insert(format!(
                "{} {}",
                c.pricing_type.as_str(),
                c.free_by.map_or("-", |f| f.as_str())
            ));
            if steps[&(i, t)].1 != want {
                differ.push(format!(
                    "user {i} turn {t}: replicas {} / one process {want}",
                    steps[&(i, t)].1
                ));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{} decisions differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
    // The timeline exercises every kind of window.
    assert!(kinds.len() >= 5, "{kinds:?}");
    println!("window decisions, all equal to the replay: {kinds:?}");

    // Past the inactivity (2 s), two new processes close everything once.
    std::thread::sleep(Duration::from_millis(2_500));
    let out = finish(
        ["lc-sweeper-1", "lc-sweeper-2"]
            .into_iter()
            .map(|r| (r.to_owned(), spawn_with(r, &url, &d)))
            .collect(),
    );
    let llm_unit = cost::record_llm_call(&lc_llm()).unwrap().total;
    let mut closed = BTreeMap::new();
    let mut by_sweeper = BTreeMap::new();
    for (role, stdout) in &out {
        let lines: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.split("CLOSED ").nth(1))
            .collect();
        by_sweeper.insert(role.clone(), lines.len());
        for l in lines {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert!(
                closed.insert(f[0].to_owned(), f[1..].join(" ")).is_none(),
                "closed twice: {l}"
            );
        }
    }
    println!("closed by sweeper: {by_sweeper:?}");
    assert_eq!(closed.len(), LC_USERS, "{closed:?}");
    for (i, id) in &ids {
        let key = cost::conversation::whatsapp_user(BUSINESS, &lc_user(*i));
        let want = format!(
            "{key} llm={} wa={} in={} out={LC_TURNS} turns={} calls={LC_TURNS} reason=inactivity outcome={}",
            (llm_unit * Decimal::from(LC_TURNS as u64)).normalize(),
            wa_total[i].normalize(),
            inbound_n[i],
            inbound_n[i],
            if i.is_multiple_of(10) { "sale" } else { "none" },
        );
        assert_eq!(closed[id], want, "user {i}");
    }
    // The next message of a user opens a new conversation, same user key.
    let new = out["lc-sweeper-1"]
        .lines()
        .find_map(|l| l.split("NEW ").nth(1))
        .unwrap();
    let f: Vec<&str> = new.split_whitespace().collect();
    assert_ne!(f[0], ids[&1]);
    assert_eq!(
        f[1],
        cost::conversation::whatsapp_user(BUSINESS, &lc_user(1))
    );
}

#[test]
fn a_once_flag_is_won_by_exactly_one_of_many_claims() {
    if std::env::var_os("CHATOBS_STATE_CHILD").is_some() {
        return;
    }
    let redis = Redis::start();
    // Two ledgers, as two processes: 8 claims each of the same flag, at once.
    let (a, b) = (ledger(&redis.url()), ledger(&redis.url()));
    let (tx, rx) = std::sync::mpsc::channel();
    for l in [&a, &b] {
        for _ in 0..8 {
            let tx = tx.clone();
            l.claim_once_then(
                "conv-once",
                "alert:conversation_budget",
                Box::new(move |r| tx.send(r).unwrap()),
            );
        }
    }
    drop(tx);
    let answers: Vec<Result<bool, String>> = rx.iter().collect();
    assert_eq!(answers.len(), 16);
    assert_eq!(
        answers.iter().filter(|r| **r == Ok(true)).count(),
        1,
        "{answers:?}"
    );
    assert_eq!(answers.iter().filter(|r| **r == Ok(false)).count(), 15);
    // Another conversation's flag is its own.
    let (tx, rx) = std::sync::mpsc::channel();
    a.claim_once_then(
        "conv-other",
        "alert:conversation_budget",
        Box::new(move |r| tx.send(r).unwrap()),
    );
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), Ok(true));
}

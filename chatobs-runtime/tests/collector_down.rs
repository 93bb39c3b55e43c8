//! A collector that refuses connections or never answers must not slow or
//! fail the bot: every call completes, spans that do not fit are dropped and
//! counted.

mod support;

use chatobs_runtime::config::{ExporterKind, LogFormat, OtlpProtocol};
use chatobs_runtime::{chat_span, Config};
use std::sync::mpsc;
use std::time::Duration;

#[chat_span(name = "agent.sales.flow", role = "sales", step = "qualify", tags("checkout", "vip"), template_category = marketing)]
fn turn(i: u64) -> u64 {
    i.wrapping_mul(31)
}

const CALLS: u64 = 20_000;

fn run_bot_against(
    endpoint: String,
    protocol: OtlpProtocol,
) -> (u64, chatobs_runtime::pipeline::PipelineSnapshot) {
    let mut c = Config::default();
    c.exporter.kinds = vec![ExporterKind::Otlp];
    c.otlp.endpoint = endpoint;
    c.otlp.protocol = protocol;
    c.exporter.queue_size = 256;
    c.exporter.batch_size = 64;
    c.exporter.scheduled_delay_ms = 10;
    c.exporter.export_timeout_ms = 300;
    c.exporter.shutdown_timeout_ms = 2_000;
    c.logs.format = LogFormat::Off;
    let guard = chatobs_runtime::init(c).unwrap();
    // The bot runs on its own thread; the watchdog below only guards against a
    // hang (a blocked caller), it does not time anything.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut done = 0u64;
        for i in 0..CALLS {
            std::hint::black_box(turn(i));
            done += 1;
        }
        tx.send(done).unwrap();
    });
    let done = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the bot was blocked by the collector");
    // The failed exports are counted (bounded wait: each export is cut at 300 ms).
    let t = std::time::Instant::now();
    let mut snap = guard.snapshot();
    while snap.export_failed == 0 && t.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
        snap = guard.snapshot();
    }
    drop(guard);
    (done, snap)
}

#[test]
fn refused_and_hanging_collectors_do_not_block_the_bot() {
    // Refusing endpoint.
    let addr = support::refusing_addr();
    let (done, snap) = run_bot_against(format!("http://{addr}"), OtlpProtocol::Grpc);
    println!("refused collector: {done} calls completed, snapshot {snap:?}");
    assert_eq!(done, CALLS);
    assert!(
        snap.dropped > 0,
        "a 256-span queue cannot hold {CALLS} spans: drops must be counted"
    );
    assert_eq!(snap.exported, 0);
    assert!(
        snap.export_failed > 0 && snap.failing_for.is_some(),
        "{snap:?}"
    );

    // Hanging endpoint (accepts, never answers), over HTTP/protobuf.
    let hang = support::hanging_endpoint();
    let (done, snap) = run_bot_against(format!("http://{}", hang.addr), OtlpProtocol::HttpProtobuf);
    println!("hanging collector: {done} calls completed, snapshot {snap:?}");
    assert_eq!(done, CALLS);
    assert!(snap.dropped > 0);
    assert_eq!(snap.exported, 0);
    assert!(
        snap.export_failed > 0 && snap.failing_for.is_some(),
        "{snap:?}"
    );
}

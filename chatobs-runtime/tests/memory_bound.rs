//! Memory is bounded in bytes, not in span count: with a queue of 1 048 576
//! spans (the largest allowed) and a refusing collector, a bot that produces
//! spans at full speed for 10 s stays within 64 MB of peak RSS, and what did
//! not fit is counted as dropped. (Before the byte budget a bot reached 822 MB.)

mod support_flood;

use chatobs_runtime::config::OtlpProtocol;
use support_flood::*;

#[test]
fn a_refusing_collector_cannot_grow_the_bot_past_64_mb() {
    let refusing = refusing_addr();
    let (made, snap) = flood(format!("http://{refusing}"), OtlpProtocol::Grpc);
    let rss = peak_rss();
    println!(
        "refusing collector: {made} spans made, {snap:?}, peak RSS {} MB",
        rss >> 20
    );
    assert!(snap.dropped > 0, "{snap:?}");
    assert_eq!(snap.exported, 0);
    assert!(
        snap.dropped + snap.export_failed + snap.queued as u64 + snap.lost + 1024 >= made,
        "every span is exported, queued or counted: {made} made, {snap:?}"
    );
    assert!(rss < 64 << 20, "peak RSS {} MB", rss >> 20);
}

//! Memory is bounded in bytes, not in span count: with a queue of 1 048 576
//! spans (the largest allowed) and a hanging (accepts, never answers) collector, a bot that produces
//! spans at full speed for 10 s stays within 64 MB of peak RSS, and what did
//! not fit is counted as dropped. (Before the byte budget a bot reached 822 MB.)

mod support_flood;

use chatobs_runtime::config::OtlpProtocol;
use support_flood::*;

#[test]
fn a_hanging_collector_cannot_grow_the_bot_past_64_mb() {
    let hang = hanging_endpoint();
    let (made, snap) = flood(format!("http://{}", hang.addr), OtlpProtocol::HttpProtobuf);
    let rss = peak_rss();
    println!(
        "hanging collector: {made} spans made, {snap:?}, peak RSS {} MB",
        rss >> 20
    );
    assert!(snap.dropped > 0, "{snap:?}");
    assert_eq!(snap.exported, 0);
    assert!(rss < 64 << 20, "peak RSS {} MB", rss >> 20);
}

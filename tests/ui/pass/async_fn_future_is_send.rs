#![deny(warnings)]
//! The future of an instrumented `async fn` stays `Send` (for tokio::spawn), even
//! with `&mut` parameters and a value held across an `.await`.
use chatobs_runtime::chat_span;

struct State {
    step: u32,
}

#[chat_span(step = state.step)]
async fn advance(state: &mut State, by: u32) -> u32 {
    tokio::task::yield_now().await;
    state.step += by;
    state.step
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut state = State { step: 1 };
    let n = rt.block_on(assert_send(advance(&mut state, 2)));
    assert_eq!(n, 3);
    let handle = rt.block_on(async {
        tokio::spawn(async {
            let mut s = State { step: 0 };
            advance(&mut s, 5).await
        })
        .await
        .unwrap()
    });
    assert_eq!(handle, 5);
}

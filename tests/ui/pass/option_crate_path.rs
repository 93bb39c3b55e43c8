#![deny(warnings)]
//! `crate = path`: the runtime re-exported under another name.
mod obs {
    pub use chatobs_runtime::*;
}

extern crate chatobs_runtime as renamed_runtime;

#[obs::chat_span(crate = obs, role = "sales", kind = chain)]
fn via_module() -> u32 {
    1
}

#[renamed_runtime::chat_span(crate = ::renamed_runtime, template_category = utility)]
async fn via_renamed() -> u32 {
    2
}

fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn main() {
    assert_eq!(via_module(), 1);
    assert_eq!(block_on(via_renamed()), 2);
}

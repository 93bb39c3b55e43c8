#![deny(warnings)]
//! Generics, lifetimes, `where` clauses and const generics keep their meaning.
use chatobs_runtime::chat_span;
use std::fmt::Debug;

#[chat_span]
fn longest<'a, 'b: 'a>(a: &'a str, b: &'b str) -> &'a str {
    if a.len() >= b.len() {
        a
    } else {
        b
    }
}

#[chat_span(capture(items))]
fn first_or<T, U>(items: Vec<T>, fallback: U) -> T
where
    T: Clone + Debug,
    U: Into<T>,
{
    items.first().cloned().unwrap_or_else(|| fallback.into())
}

#[chat_span]
fn sum<const N: usize>(xs: [u32; N]) -> u32 {
    xs.iter().sum()
}

struct Wrapper<T>(T);

impl<T: Debug> Wrapper<T> {
    #[chat_span]
    fn describe(&self) -> String {
        format!("{:?}", self.0)
    }
}

#[chat_span]
async fn generic_async<T: Debug + Send>(value: T) -> String {
    format!("{value:?}")
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
    assert_eq!(longest("hola", "hi"), "hola");
    assert_eq!(first_or(Vec::<u64>::new(), 7u32), 7);
    assert_eq!(sum([1, 2, 3]), 6);
    assert_eq!(Wrapper(3).describe(), "3");
    assert_eq!(block_on(generic_async("x")), "\"x\"");
}

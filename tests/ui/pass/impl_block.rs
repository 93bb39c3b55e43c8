#![deny(warnings)]
//! A whole impl block: every method gets `<Type>.<method>`; a method's own
//! attribute merges over the block's; `skip` opts out; a `const fn` is left alone;
//! associated consts and types pass through.
use chatobs_runtime::chat_span;

struct SalesBot<T> {
    catalog: Vec<T>,
}

#[chat_span(role = "sales", kind = agent, tags("checkout"))]
impl<T: Clone + std::fmt::Debug> SalesBot<T> {
    const MAX: usize = 10;

    /// Builds a bot (associated fn without `self`).
    fn new(catalog: Vec<T>) -> Self {
        SalesBot { catalog }
    }

    const fn limit() -> usize {
        Self::MAX
    }

    #[chat_span(step = "offer", tags("vip"), capture(index))]
    fn offer(&self, index: usize) -> Option<T> {
        self.catalog.get(index).cloned()
    }

    #[chat_span(name = "agent.sales.flow")]
    async fn flow(&mut self, item: T) -> usize {
        self.catalog.push(item);
        self.catalog.len()
    }

    #[chat_span(skip)]
    fn helper(&self) -> usize {
        self.catalog.len()
    }

    #[chatobs_runtime::chat_span(level = debug)]
    fn qualified_path_attr(&self) -> bool {
        self.catalog.is_empty()
    }
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

const LIMIT: usize = SalesBot::<u8>::limit();

fn main() {
    let mut bot = SalesBot::new(vec!["a", "b"]);
    assert_eq!(bot.offer(1), Some("b"));
    assert_eq!(block_on(bot.flow("c")), 3);
    assert_eq!(bot.helper(), 3);
    assert!(!bot.qualified_path_attr());
    assert_eq!(LIMIT, 10);
}

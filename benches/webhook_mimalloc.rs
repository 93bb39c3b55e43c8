// The webhook benchmark (benches/webhook.rs) with mimalloc as the global
// allocator, in its own binary: same code, same run shape, other allocator,
// for users who weigh one. (chatobs no longer frees a bot's memory on its
// own threads, the pattern glibc's arena locks made expensive; see
// docs/benchmarks.md.)
//
//     cargo bench -p chatobs-runtime --bench webhook_mimalloc

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

include!("webhook.rs");

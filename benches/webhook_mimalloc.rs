// The webhook benchmark (benches/webhook.rs) with mimalloc as the global
// allocator, in its own binary: with glibc's malloc, the spans' memory is
// allocated on the bot's threads and freed on chatobs' export thread, and
// glibc's arena locks make those cross-thread frees contend; mimalloc frees
// across threads without a lock. Same code, same run shape, other allocator.
//
//     cargo bench -p chatobs-runtime --bench webhook_mimalloc

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

include!("webhook.rs");

//! Estimating the USD cost of prompt and completion tokens (the seed's `tokencost_example`).
//!
//! ```text
//! cargo run --example token_cost
//! ```

use chatobs_runtime::cost::{self, LlmCall, Usage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let table = cost::engine();
    for (provider, model, input, cached, output) in [
        ("gcp.gemini", "gemini-1.5-flash", 1_200u64, 200u64, 300u64),
        ("gcp.gemini", "gemini-1.5-flash", 200_000, 0, 1_000), // above 128k: the higher tier for the whole request
        ("openai", "gpt-4o", 1_000, 500, 200),
        ("openai", "gpt-4o-mini", 1_000, 0, 200),
    ] {
        let usage = Usage {
            cached_tokens: cached,
            ..Usage::tokens(input, output)
        };
        let c = table.llm().cost(Some(provider), model, &usage)?;
        println!(
            "{model:<18} in {input:>7} (cached {cached:>4}) out {output:>5}: prompt ${} + completion ${} = ${}",
            c.prompt.normalize(),
            c.completion.normalize(),
            c.total.normalize()
        );
    }
    // On a span, the same call writes gen_ai.usage.* and gen_ai.usage.price_usd:
    let (_, spans) = chatobs_runtime::testing::capture(|| {
        let mut s = chatobs_runtime::SpanBuilder::new("llm").start();
        s.in_scope(|| {
            cost::record_llm_call(
                &LlmCall::new("gemini-1.5-flash")
                    .input_tokens(1000)
                    .output_tokens(100)
                    .genai_span_name(),
            )
        })
    });
    let s = &spans.spans[0];
    println!(
        "span {:?}: gen_ai.usage.price_usd = {:?}",
        s.name,
        s.attr("gen_ai.usage.price_usd")
    );
    Ok(())
}

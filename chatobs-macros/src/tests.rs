//! Tests of the whole attribute through `chat_span_tokens`, the function the
//! entry point calls: parse, validate, then expand (or, with the `off`
//! feature, return the item). They run in both builds (`cargo test -p
//! chatobs-macros` and `cargo test -p chatobs-macros --features off`); the
//! tests of one build only say so.

use proc_macro2::{TokenStream, TokenTree};
use quote::quote;

use crate::chat_span_tokens;

/// Runs the attribute: the messages of its `compile_error!`s, and the rest of
/// its output (the item), as text.
fn run(args: TokenStream, item: TokenStream) -> (Vec<String>, String) {
    let mut errors = Vec::new();
    let mut rest: Vec<TokenTree> = Vec::new();
    let mut tokens = chat_span_tokens(args, item).into_iter();
    while let Some(tt) = tokens.next() {
        if !matches!(&tt, TokenTree::Ident(i) if i == "compile_error") {
            rest.push(tt);
            continue;
        }
        // `::core::compile_error! { "message" }`
        let path: String = rest
            .drain(rest.len() - 5..)
            .map(|t| t.to_string())
            .collect();
        assert_eq!(path, "::core::");
        assert!(matches!(tokens.next(), Some(TokenTree::Punct(p)) if p.as_char() == '!'));
        let Some(TokenTree::Group(body)) = tokens.next() else {
            panic!("compile_error! without a body");
        };
        errors.push(syn::parse2::<syn::LitStr>(body.stream()).unwrap().value());
    }
    (
        errors,
        rest.into_iter().collect::<TokenStream>().to_string(),
    )
}

const KEYS: &str = "name, role, step, tags, template_category, kind, model, provider, session, \
                    capture, fields, level, crate, skip";

fn unknown_role(written: &str, hint: &str) -> String {
    format!(
        "unknown role `{written}`{hint} built-in roles are: classifier, orchestrator, sales, pqr, \
         support, gateway, retriever, tool, evaluator, handoff, operator; declare your own with \
         chatobs_runtime::roles! and pass it as a path"
    )
}

// ---- both builds: an invalid attribute is an error, and the item is kept ------------

#[test]
fn a_role_typo_is_an_error() {
    let item = quote!(
        fn sales_flow() {}
    );
    let (errors, rest) = run(quote!(role = "salse"), item.clone());
    assert_eq!(errors, [unknown_role("salse", ": did you mean `sales`?")]);
    assert_eq!(rest, item.to_string());
}

#[test]
fn an_unknown_option_is_an_error() {
    let item = quote!(
        fn predict(text: &str) -> usize {
            text.len()
        }
    );
    let (errors, rest) = run(quote!(nmae = "classifier.predict"), item.clone());
    assert_eq!(
        errors,
        [format!(
            "unknown option `nmae` for #[chat_span]: did you mean `name`? expected one of: {KEYS}"
        )]
    );
    assert_eq!(rest, item.to_string());
    let (errors, _) = run(quote!(colour = "blue"), item);
    assert_eq!(
        errors,
        [format!(
            "unknown option `colour` for #[chat_span]: expected one of: {KEYS}"
        )]
    );
}

#[test]
fn reports_every_error_of_an_attribute_in_order() {
    // tests/ui/fail/all_errors_at_once.rs: parse errors, then the checks
    // against the function (`capture` of a name that is not a parameter).
    let (errors, _) = run(
        quote!(
            nmae = "x",
            role = "salse",
            kind = chian,
            capture(txt),
            level = loud,
            role = "pqr"
        ),
        quote!(
            fn everything_wrong(text: &str) {
                let _ = text;
            }
        ),
    );
    assert_eq!(
        errors,
        [
            format!(
                "unknown option `nmae` for #[chat_span]: did you mean `name`? expected one of: \
                 {KEYS}"
            ),
            unknown_role("salse", ": did you mean `sales`?"),
            "unknown kind `chian`: did you mean `chain`? expected one of: llm, chain, agent, \
             tool, evaluator, retriever, embedding, guardrail, reranker, prompt, unknown"
                .to_string(),
            "unknown level `loud`: expected one of: trace, debug, info, warn, error".to_string(),
            "duplicate option `role`: each option of #[chat_span] may appear once".to_string(),
            "`capture(txt)`: `txt` is not a parameter of `everything_wrong`: did you mean \
             `text`? its parameters are: text"
                .to_string(),
        ]
    );
}

#[test]
fn validates_the_whole_attribute_and_the_item() {
    let cases = [
        (
            quote!(model = "gemini-1.5-flash"),
            quote!(
                fn no_kind() {}
            ),
            "`model` is only allowed on LLM spans, and this span sets no `kind`: add `kind = \
             llm` (or remove `model`)",
        ),
        (
            quote!(skip),
            quote!(
                fn free() {}
            ),
            "`skip` only applies to a method inside an impl block annotated with #[chat_span]: \
             without it, remove the attribute",
        ),
        (
            quote!(),
            quote!(
                const fn answer() -> u32 {
                    42
                }
            ),
            "#[chat_span] cannot instrument a `const fn`: a span is created at run time; remove \
             `const` or the attribute",
        ),
        (
            quote!(),
            quote!(
                struct Intent;
            ),
            "#[chat_span] applies to functions and impl blocks, not to a struct",
        ),
        (
            quote!(name = "bot"),
            quote!(
                impl Bot {}
            ),
            "`name` cannot be set on an impl block: each method's span is named \
             `<Type>.<method>`; set `name` in a method's own #[chat_span(...)]",
        ),
    ];
    for (args, item, message) in cases {
        let (errors, rest) = run(args, item.clone());
        assert_eq!(errors, [message]);
        assert_eq!(rest, item.to_string());
    }
}

#[test]
fn checks_the_methods_of_an_impl_block() {
    let (errors, rest) = run(
        quote!(kind = llm, model = "gpt-4o"),
        quote! {
            impl Other {
                #[chat_span(stpe = "x")]
                fn a(&self) {}
                #[chat_span(kind = chain)]
                fn d(&self) {}
                fn e(&self) {}
            }
        },
    );
    assert_eq!(
        errors,
        [
            format!(
                "unknown option `stpe` for #[chat_span]: did you mean `step`? expected one of: \
                 {KEYS}"
            ),
            "`kind = chain` on this method conflicts with `model`/`provider` set on the impl \
             block, which need `kind = llm`"
                .to_string(),
        ]
    );
    // The methods' own attributes are taken off, nothing is expanded.
    let expected = quote! {
        impl Other {
            fn a(&self) {}
            fn d(&self) {}
            fn e(&self) {}
        }
    };
    assert_eq!(rest, expected.to_string());
}

#[test]
fn a_body_that_does_not_parse_passes_through() {
    let item = quote!(
        fn broken() { let = 3; }
    );
    let (errors, rest) = run(quote!(role = "sales"), item.clone());
    assert!(errors.is_empty());
    assert_eq!(rest, item.to_string());
    let (errors, rest) = run(quote!(role = "salse"), item.clone());
    assert_eq!(errors, [unknown_role("salse", ": did you mean `sales`?")]);
    assert_eq!(rest, item.to_string());
}

// ---- off: a valid attribute returns the item unchanged ----------------------------

#[cfg(feature = "off")]
#[test]
fn off_returns_a_valid_item_unchanged() {
    let items = [
        (
            quote!(
                name = "classifier.predict",
                role = "classifier",
                kind = chain,
                capture(text)
            ),
            quote! {
                #[must_use]
                pub fn predict(text: &str) -> usize { text.len() }
            },
        ),
        (
            quote!(
                role = "sales",
                step = state.step(),
                tags("checkout", "vip"),
                template_category = marketing
            ),
            quote! {
                async fn sales_flow(state: &mut State) -> Result<Reply, BotError> { todo!() }
            },
        ),
        (
            quote!(
                kind = llm,
                model = "gemini-1.5-flash",
                provider = "gcp.gemini",
                level = debug,
                crate = my::obs
            ),
            quote! {
                fn complete(prompt: &str) -> impl Future<Output = String> { async move { prompt.to_string() } }
            },
        ),
    ];
    for (args, item) in items {
        let (errors, rest) = run(args, item.clone());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rest, item.to_string());
    }
}

#[cfg(feature = "off")]
#[test]
fn off_takes_the_method_attributes_off_an_impl_block() {
    let (errors, rest) = run(
        quote!(role = "pqr", kind = agent),
        quote! {
            impl PqrBot {
                async fn open(&self) {}
                #[chat_span(step = "close", capture(ticket))]
                #[inline]
                async fn close(&self, ticket: TicketId) {}
                #[chat_span(skip)]
                fn helper(&self) {}
            }
        },
    );
    assert!(errors.is_empty(), "{errors:?}");
    let expected = quote! {
        impl PqrBot {
            async fn open(&self) {}
            #[inline]
            async fn close(&self, ticket: TicketId) {}
            fn helper(&self) {}
        }
    };
    assert_eq!(rest, expected.to_string());
}

// ---- normal build: a valid attribute is expanded ----------------------------------

#[cfg(not(feature = "off"))]
#[test]
fn expands_a_valid_attribute() {
    let (errors, rest) = run(
        quote!(role = "sales", kind = chain),
        quote!(
            fn offer() {}
        ),
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert!(rest.contains("static __CHATOBS_SITE"), "{rest}");
    assert!(
        rest.contains(":: chatobs_runtime :: Role :: SALES"),
        "{rest}"
    );
    assert!(
        rest.contains(":: chatobs_runtime :: vocab :: SpanKind :: Chain"),
        "{rest}"
    );
}

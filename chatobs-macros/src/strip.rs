//! Token-level removal of `#[chat_span]` from the methods of an impl block:
//! what the attribute returns when it does not expand the item (the item does
//! not parse, the attribute has errors, or the `off` feature is on). It works
//! on the tokens as written, so the item comes back unchanged otherwise.

use proc_macro2::{Delimiter, Group, TokenStream, TokenTree};

/// Removes `#[chat_span(...)]` from the methods of an impl block, at the token
/// level. An item with a top-level `impl` and no top-level `fn` counts as an
/// impl block; any other item (a function, ...) is returned as is.
pub(crate) fn strip_inner_attrs(item: TokenStream) -> TokenStream {
    let mut tts: Vec<TokenTree> = item.into_iter().collect();
    let is_impl = tts
        .iter()
        .any(|t| matches!(t, TokenTree::Ident(i) if i == "impl"))
        && !tts
            .iter()
            .any(|t| matches!(t, TokenTree::Ident(i) if i == "fn"));
    if !is_impl {
        return tts.into_iter().collect();
    }
    if let Some(TokenTree::Group(g)) = tts.last() {
        if g.delimiter() == Delimiter::Brace {
            let mut body = Group::new(Delimiter::Brace, strip_attrs(g.stream()));
            body.set_span(g.span());
            *tts.last_mut().unwrap() = TokenTree::Group(body);
        }
    }
    tts.into_iter().collect()
}

fn strip_attrs(stream: TokenStream) -> TokenStream {
    let tts: Vec<TokenTree> = stream.into_iter().collect();
    let mut out = Vec::with_capacity(tts.len());
    let mut i = 0;
    while i < tts.len() {
        if let (TokenTree::Punct(p), Some(TokenTree::Group(g))) = (&tts[i], tts.get(i + 1)) {
            if p.as_char() == '#' && g.delimiter() == Delimiter::Bracket && names_chat_span(g) {
                i += 2;
                continue;
            }
        }
        out.push(tts[i].clone());
        i += 1;
    }
    out.into_iter().collect()
}

fn names_chat_span(attr: &Group) -> bool {
    let mut last = None;
    for tt in attr.stream() {
        match tt {
            TokenTree::Ident(i) => last = Some(i.to_string()),
            TokenTree::Punct(p) if p.as_char() == ':' => {}
            _ => break,
        }
    }
    last.as_deref() == Some("chat_span")
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn method_attrs(tokens: TokenStream) -> Vec<String> {
        let imp: syn::ItemImpl = syn::parse2(tokens).unwrap();
        imp.items
            .iter()
            .filter_map(|i| match i {
                syn::ImplItem::Fn(f) => Some(f),
                _ => None,
            })
            .flat_map(|f| f.attrs.iter())
            .map(|a| a.path().segments.last().unwrap().ident.to_string())
            .collect()
    }

    #[test]
    fn strips_chat_span_from_impl_methods_only() {
        let item = quote! {
            impl Bot {
                #[chat_span(skip)]
                #[inline]
                fn a(&self) {}
                #[chatobs_runtime::chat_span(step = "x")]
                fn b(&self) {}
                #[doc = "kept"]
                fn c(&self) {}
            }
        };
        assert_eq!(method_attrs(strip_inner_attrs(item)), ["inline", "doc"]);
    }

    #[test]
    fn leaves_functions_alone() {
        let item = quote! {
            fn outer() {
                #[chat_span]
                fn inner() {}
            }
        };
        assert_eq!(
            strip_inner_attrs(item.clone()).to_string(),
            item.to_string()
        );
    }
}

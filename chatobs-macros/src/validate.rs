//! Validation: the checks that need the whole attribute, or the item it is on.
//!
//! The second of three passes (parse in `attr.rs`, then this, then
//! `expand.rs`). It runs in every build, with or without the `off` feature, so
//! an attribute that is wrong is a compile error in both. Every error is kept
//! at its token and reported at once, after the attribute's parse errors.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Attribute, FnArg, ImplItem, Item, ItemFn, ItemImpl, Pat, Signature};

use crate::attr::{combine, is_chat_span, suggest, Args, LLM_KIND};

/// A valid attribute and the item it is on: what `expand.rs` rewrites.
pub(crate) enum Target {
    /// A function to instrument.
    Fn(Box<ItemFn>, Box<Args>),
    /// An impl block whose methods' own `#[chat_span]` are taken out, and the
    /// methods to instrument: (index in its `items`, options merged over the
    /// block's).
    Impl(Box<ItemImpl>, Vec<(usize, Args)>),
    /// An item that does not parse: its tokens are passed through (with
    /// `#[chat_span]` taken off its methods) so that editors keep working;
    /// rustc reports the syntax error.
    Verbatim,
}

/// Checks the parsed attribute against the rules and the item, and returns
/// what to expand, or every error (parse errors first, each at its token).
pub(crate) fn validate(mut args: Args, item: &TokenStream) -> Result<Target, syn::Error> {
    let mut errors = args.take_errors();
    check_args(&args, None, &mut errors);
    let target = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(f)) => {
            check_fn(&args, &f.sig, &mut errors);
            Target::Fn(Box::new(f), Box::new(args))
        }
        Ok(Item::Impl(imp)) => {
            let (imp, methods) = check_impl(&args, imp, &mut errors);
            Target::Impl(Box::new(imp), methods)
        }
        // An item syn keeps as tokens (a trait method without a body, ...).
        Ok(Item::Verbatim(_)) => {
            check_verbatim(&args, item, true, &mut errors);
            Target::Verbatim
        }
        Ok(other) => {
            errors.push(syn::Error::new(
                item_keyword_span(&other),
                format!(
                    "#[chat_span] applies to functions and impl blocks, not to {}",
                    item_description(&other)
                ),
            ));
            Target::Verbatim
        }
        Err(_) => {
            check_verbatim(&args, item, false, &mut errors);
            Target::Verbatim
        }
    };
    match combine(errors) {
        Some(e) => Err(e),
        None => Ok(target),
    }
}

/// The rules that need the whole attribute (not one option).
///
/// `block` is the attribute of the enclosing `impl` block when this is a
/// method's own attribute: `kind` may then come from the block.
fn check_args(args: &Args, block: Option<&Args>, errors: &mut Vec<syn::Error>) {
    let effective_kind = args.kind.as_ref().or(block.and_then(|b| b.kind.as_ref()));
    let is_llm = effective_kind.is_some_and(|k| k.value.written == LLM_KIND);
    if !is_llm {
        let found = match effective_kind {
            Some(k) => format!("this span has `kind = {}`", k.value.written),
            None => "this span sets no `kind`".to_string(),
        };
        for (key, opt) in [("model", &args.model), ("provider", &args.provider)] {
            if let Some(opt) = opt {
                errors.push(syn::Error::new(
                    opt.key,
                    format!(
                        "`{key}` is only allowed on LLM spans, and {found}: add `kind = llm` \
                         (or remove `{key}`)"
                    ),
                ));
            }
        }
        // A method overriding the block's `kind = llm` while the block sets a model.
        if let (Some(kind), Some(block)) = (&args.kind, block) {
            let own = args.model.is_some() || args.provider.is_some();
            if !own && (block.model.is_some() || block.provider.is_some()) {
                errors.push(syn::Error::new(
                    kind.key,
                    format!(
                        "`kind = {}` on this method conflicts with `model`/`provider` set \
                         on the impl block, which need `kind = llm`",
                        kind.value.written
                    ),
                ));
            }
        }
    }
    // (On a free fn or an impl block, `skip` itself is the error: see
    // `check_fn` and `check_impl`.)
    if let (Some(skip), Some(_)) = (&args.skip, block) {
        let others: Vec<&str> = args
            .set_keys()
            .into_iter()
            .filter(|k| *k != "skip")
            .collect();
        if !others.is_empty() {
            errors.push(syn::Error::new(
                skip.key,
                format!(
                    "`skip` takes no other options (found: {}): a skipped method gets no span",
                    others.join(", ")
                ),
            ));
        }
    }
}

/// Errors about the function itself: `skip` outside an annotated impl block,
/// `const fn`, captures of names that are not parameters.
fn check_fn(args: &Args, sig: &Signature, errors: &mut Vec<syn::Error>) {
    // (Inside an annotated impl block, a skipped method never gets here.)
    if let Some(skip) = &args.skip {
        errors.push(syn::Error::new(
            skip.key,
            "`skip` only applies to a method inside an impl block annotated with \
             #[chat_span]: without it, remove the attribute",
        ));
    }
    if let Some(c) = &sig.constness {
        errors.push(syn::Error::new(
            c.span,
            "#[chat_span] cannot instrument a `const fn`: a span is created at run time; \
             remove `const` or the attribute",
        ));
    }
    if let Some(capture) = &args.capture {
        let params = param_names(sig);
        let allowed: Vec<&str> = params.iter().map(String::as_str).collect();
        for name in &capture.value {
            let written = name.to_string();
            if !params.contains(&written) {
                let hint = match suggest(&written, &allowed) {
                    Some(s) => format!("did you mean `{s}`? "),
                    None => String::new(),
                };
                let list = if params.is_empty() {
                    "it has no parameters".to_string()
                } else {
                    format!("its parameters are: {}", params.join(", "))
                };
                errors.push(syn::Error::new(
                    name.span(),
                    format!(
                        "`capture({written})`: `{written}` is not a parameter of `{}`: {hint}{list}",
                        sig.ident
                    ),
                ));
            }
        }
    }
}

/// The block's own rules, then each method's: takes the methods' own
/// `#[chat_span(...)]` out of the block and returns it with the methods to
/// instrument.
fn check_impl(
    block_args: &Args,
    mut imp: ItemImpl,
    errors: &mut Vec<syn::Error>,
) -> (ItemImpl, Vec<(usize, Args)>) {
    let on_block = |key: Option<Span>, what: &str| key.map(|span| syn::Error::new(span, what));
    errors.extend(on_block(
        block_args.name.as_ref().map(|o| o.key),
        "`name` cannot be set on an impl block: each method's span is named \
         `<Type>.<method>`; set `name` in a method's own #[chat_span(...)]",
    ));
    errors.extend(on_block(
        block_args.capture.as_ref().map(|o| o.key),
        "`capture` names the parameters of one function: put it in a method's own \
         #[chat_span(capture(...))]",
    ));
    errors.extend(on_block(
        block_args.skip.as_ref().map(|o| o.key),
        "`skip` applies to one method inside an annotated impl block; to instrument no \
         method, remove the attribute from the impl block",
    ));
    // What methods inherit: `name`, `capture` and `skip` are per method (and
    // already reported above when set on the block).
    let inherited = block_args.inheritable();
    let mut methods = Vec::new();
    for (index, item) in imp.items.iter_mut().enumerate() {
        let ImplItem::Fn(f) = item else { continue };
        // Take the method's own #[chat_span(...)] attributes out.
        let mut own = Vec::new();
        f.attrs.retain(|a| {
            let mine = is_chat_span(a);
            if mine {
                own.push(a.clone());
            }
            !mine
        });
        let mut method_args = Args::default();
        for (i, attr) in own.iter().enumerate() {
            if i > 0 {
                errors.push(syn::Error::new(
                    attr.path().span(),
                    "a method takes one #[chat_span(...)]: merge the options into one",
                ));
                continue;
            }
            method_args = Args::parse_attribute(attr);
            errors.extend(method_args.take_errors());
            check_args(&method_args, Some(&inherited), errors);
        }
        if method_args.skip.is_some() {
            continue;
        }
        if f.sig.constness.is_some() && own.is_empty() {
            // A const fn cannot carry a span; the block's attribute leaves it alone.
            continue;
        }
        let effective = method_args.merged_over(&inherited);
        check_fn(&effective, &f.sig, errors);
        methods.push((index, effective));
    }
    (imp, methods)
}

/// The item does not parse as a function or an impl block: report only the
/// attribute's own errors (rustc reports a syntax error), and what can be
/// said of a function whose body does not parse.
fn check_verbatim(args: &Args, item: &TokenStream, verbatim: bool, errors: &mut Vec<syn::Error>) {
    if let Ok(f) = syn::parse2::<FnSignatureOnly>(item.clone()) {
        check_fn(args, &f.sig, errors);
    } else if let Ok(f) = syn::parse2::<syn::TraitItemFn>(item.clone()) {
        errors.push(syn::Error::new(
            f.sig.ident.span(),
            "#[chat_span] needs a function body: put it on the implementations of this \
             trait method (or give it a default body)",
        ));
    } else if verbatim {
        errors.push(syn::Error::new(
            item.clone()
                .into_iter()
                .next()
                .map_or_else(Span::call_site, |t| t.span()),
            "#[chat_span] applies to functions and impl blocks",
        ));
    }
}

/// A function whose body is kept as raw tokens (it may not parse).
struct FnSignatureOnly {
    sig: Signature,
}

impl Parse for FnSignatureOnly {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        input.call(Attribute::parse_outer)?;
        input.parse::<syn::Visibility>()?;
        input.parse::<Option<syn::Token![default]>>()?;
        let sig: Signature = input.parse()?;
        match input.parse::<TokenTree>()? {
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => {}
            other => return Err(syn::Error::new(other.span(), "expected a function body")),
        }
        Ok(FnSignatureOnly { sig })
    }
}

/// The names a function's parameters bind (`self` for a receiver).
fn param_names(sig: &Signature) -> Vec<String> {
    fn walk(pat: &Pat, out: &mut Vec<String>) {
        match pat {
            Pat::Ident(p) => {
                out.push(p.ident.to_string());
                if let Some((_, sub)) = &p.subpat {
                    walk(sub, out);
                }
            }
            Pat::Tuple(t) => t.elems.iter().for_each(|p| walk(p, out)),
            Pat::TupleStruct(t) => t.elems.iter().for_each(|p| walk(p, out)),
            Pat::Struct(s) => s.fields.iter().for_each(|f| walk(&f.pat, out)),
            Pat::Slice(s) => s.elems.iter().for_each(|p| walk(p, out)),
            Pat::Reference(r) => walk(&r.pat, out),
            Pat::Paren(p) => walk(&p.pat, out),
            Pat::Type(t) => walk(&t.pat, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(_) => out.push("self".to_string()),
            FnArg::Typed(t) => walk(&t.pat, &mut out),
        }
    }
    out
}

fn item_keyword_span(item: &Item) -> Span {
    match item {
        Item::Struct(i) => i.struct_token.span,
        Item::Enum(i) => i.enum_token.span,
        Item::Union(i) => i.union_token.span,
        Item::Trait(i) => i.trait_token.span,
        Item::Mod(i) => i.mod_token.span,
        Item::Const(i) => i.const_token.span,
        Item::Static(i) => i.static_token.span,
        Item::Type(i) => i.type_token.span,
        Item::Use(i) => i.use_token.span,
        Item::ExternCrate(i) => i.extern_token.span,
        Item::ForeignMod(i) => i.abi.extern_token.span,
        other => other.span(),
    }
}

fn item_description(item: &Item) -> &'static str {
    match item {
        Item::Struct(_) => "a struct",
        Item::Enum(_) => "an enum",
        Item::Union(_) => "a union",
        Item::Trait(_) => "a trait definition (annotate the methods of its impls)",
        Item::Mod(_) => "a module",
        Item::Const(_) => "a const",
        Item::Static(_) => "a static",
        Item::Type(_) => "a type alias",
        Item::Use(_) => "a use declaration",
        Item::ExternCrate(_) => "an extern crate",
        Item::ForeignMod(_) => "an extern block",
        Item::Macro(_) => "a macro invocation",
        _ => "this item",
    }
}

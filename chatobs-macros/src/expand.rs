//! Code generation: the function is rewritten in place, its signature tokens
//! re-emitted unchanged, and its body wrapped in a few calls into
//! `chatobs_runtime::__private` (see `docs/macro-contract.md`).

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    Attribute, Block, Expr, ExprAsync, FnArg, GenericArgument, Ident, ImplItem, Item, ItemImpl,
    LitStr, Pat, PathArguments, ReturnType, Signature, Stmt, Type, TypeParamBound,
};

use crate::attr::{combine, compact, suggest, Args, RoleArg, StepArg};
use crate::strip::strip_inner_attrs;

/// Entry point of the attribute (when the `off` feature is not set).
pub(crate) fn chat_span(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut args = Args::parse_tokens(args);
    args.validate(None);
    match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(f)) => {
            let fun = FnRef {
                attrs: &f.attrs,
                prefix: f.vis.to_token_stream(),
                sig: &f.sig,
                block: &f.block,
            };
            let mut errors = Vec::new();
            errors.extend(args.take_error());
            errors.extend(check_fn(&args, f.sig.clone()));
            match combine(errors) {
                Some(e) => with_errors(e, item),
                None => {
                    let name = match &args.name {
                        Some(n) => n.value.value(),
                        None => f.sig.ident.to_string(),
                    };
                    fun.expand(&args, &name)
                }
            }
        }
        Ok(Item::Impl(imp)) => expand_impl(args, imp, item),
        // An item syn keeps as tokens (a trait method without a body, ...).
        Ok(Item::Verbatim(_)) => passthrough(args, item, true),
        Ok(other) => {
            let mut errors: Vec<syn::Error> = args.take_error().into_iter().collect();
            errors.push(syn::Error::new(
                item_keyword_span(&other),
                format!(
                    "#[chat_span] applies to functions and impl blocks, not to {}",
                    item_description(&other)
                ),
            ));
            with_errors(combine(errors).unwrap(), item)
        }
        Err(_) => passthrough(args, item, false),
    }
}

/// The item does not parse: keep the tokens (so editors keep working) and
/// report only the attribute's own errors; rustc reports the syntax error.
fn passthrough(mut args: Args, item: TokenStream, verbatim: bool) -> TokenStream {
    let mut errors: Vec<syn::Error> = args.take_error().into_iter().collect();
    if let Ok(f) = syn::parse2::<FnSignatureOnly>(item.clone()) {
        errors.extend(check_fn(&args, f.sig));
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
    match combine(errors) {
        Some(e) => with_errors(e, strip_inner_attrs(item)),
        None => strip_inner_attrs(item),
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

fn with_errors(error: syn::Error, item: TokenStream) -> TokenStream {
    let errors = error.to_compile_error();
    quote!(#errors #item)
}

/// Errors about the function itself: `const fn`, captures of non-parameters.
fn check_fn(args: &Args, sig: Signature) -> Vec<syn::Error> {
    let mut errors = Vec::new();
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
        let params = param_names(&sig);
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
    errors
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

// ---- impl blocks ---------------------------------------------------------------

/// Whether an attribute is `#[chat_span]` (or `#[some::path::chat_span]`).
fn is_chat_span(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "chat_span")
}

fn expand_impl(mut block_args: Args, mut imp: ItemImpl, original: TokenStream) -> TokenStream {
    let mut errors: Vec<syn::Error> = block_args.take_error().into_iter().collect();
    let on_block =
        |key: Option<Span>, what: &str| key.map(|span| syn::Error::new(span, what.to_string()));
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
    let type_name = type_name(&imp.self_ty);
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
            method_args = match &attr.meta {
                syn::Meta::Path(_) => Args::default(),
                syn::Meta::List(list) => Args::parse_tokens(list.tokens.clone()),
                syn::Meta::NameValue(nv) => {
                    errors.push(syn::Error::new(
                        nv.eq_token.span,
                        "write the options in parentheses: #[chat_span(step = \"pay\")]",
                    ));
                    Args::default()
                }
            };
            method_args.validate(Some(&inherited));
            errors.extend(method_args.take_error());
        }
        if method_args.skip.is_some() {
            continue;
        }
        if f.sig.constness.is_some() && own.is_empty() {
            // A const fn cannot carry a span; the block's attribute leaves it alone.
            continue;
        }
        let effective = method_args.merged_over(&inherited);
        errors.extend(check_fn(&effective, f.sig.clone()));
        let name = match &effective.name {
            Some(n) => n.value.value(),
            None => format!("{type_name}.{}", f.sig.ident),
        };
        methods.push((index, effective, name));
    }
    if let Some(e) = combine(errors) {
        return with_errors(e, strip_inner_attrs(original));
    }
    // Second pass: rewrite the selected methods.
    let mut out_items = Vec::new();
    for (index, item) in imp.items.iter().enumerate() {
        if let ImplItem::Fn(f) = item {
            if let Some((_, args, name)) = methods.iter().find(|(i, _, _)| *i == index) {
                let mut prefix = f.vis.to_token_stream();
                f.defaultness.to_tokens(&mut prefix);
                let fun = FnRef {
                    attrs: &f.attrs,
                    prefix,
                    sig: &f.sig,
                    block: &f.block,
                };
                out_items.push(fun.expand(args, name));
                continue;
            }
        }
        out_items.push(item.to_token_stream());
    }
    let ItemImpl {
        attrs,
        defaultness,
        unsafety,
        impl_token,
        generics,
        trait_,
        self_ty,
        brace_token,
        ..
    } = &imp;
    let (bang, path, for_) = match trait_ {
        Some((b, p, f)) => (Some(b), Some(p), Some(f)),
        None => (None, None, None),
    };
    let where_clause = &generics.where_clause;
    let mut out = quote! {
        #(#attrs)* #defaultness #unsafety #impl_token #generics #bang #path #for_ #self_ty #where_clause
    };
    brace_token.surround(&mut out, |tokens| {
        for item in out_items {
            item.to_tokens(tokens);
        }
    });
    out
}

/// `Foo` for `impl Foo<T>`, `impl Trait for &Foo`, ...
fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(p) if p.qself.is_none() => match p.path.segments.last() {
            Some(seg) => seg.ident.to_string(),
            None => compact(ty),
        },
        Type::Reference(r) => type_name(&r.elem),
        Type::Paren(p) => type_name(&p.elem),
        Type::Group(g) => type_name(&g.elem),
        other => compact(other),
    }
}

// ---- functions -----------------------------------------------------------------------

/// A function to rewrite: a free fn or a method.
struct FnRef<'a> {
    attrs: &'a [Attribute],
    /// Visibility and `default`, re-emitted as written.
    prefix: TokenStream,
    sig: &'a Signature,
    block: &'a Block,
}

/// Where the code that runs when the function is called lives.
enum Shape<'a> {
    /// The body itself runs (sync fn): wrap it in `in_scope`.
    Sync,
    /// `async fn`: wrap the body in `in_future(..).await`.
    AsyncFn,
    /// The body's tail is `async [move] {}` (fn returning `impl Future`), or
    /// `Box::pin(async move {})` (async-trait): instrument that future.
    TailAsync {
        tail: &'a Expr,
        async_expr: &'a ExprAsync,
        /// The `Box::pin` call around it, if any.
        pin: Option<&'a Expr>,
    },
}

impl<'a> Shape<'a> {
    /// Detects the async shapes in one place (as tracing-attributes does).
    fn of(sig: &Signature, block: &'a Block) -> Shape<'a> {
        if sig.asyncness.is_some() {
            return Shape::AsyncFn;
        }
        let Some(Stmt::Expr(tail, None)) = block.stmts.last() else {
            return Shape::Sync;
        };
        match tail {
            Expr::Async(async_expr) => Shape::TailAsync {
                tail,
                async_expr,
                pin: None,
            },
            Expr::Call(call) => {
                let Expr::Path(func) = &*call.func else {
                    return Shape::Sync;
                };
                let path = compact(&func.path);
                if !(path == "Box::pin" || path.ends_with("::Box::pin")) || call.args.len() != 1 {
                    return Shape::Sync;
                }
                match &call.args[0] {
                    Expr::Async(async_expr) => Shape::TailAsync {
                        tail,
                        async_expr,
                        pin: Some(&call.func),
                    },
                    _ => Shape::Sync,
                }
            }
            _ => Shape::Sync,
        }
    }
}

/// The type a body produces, with `impl Trait` erased to `_`, and the span to
/// report type errors of the body against (the user's return type).
struct Ret {
    ty: Type,
    span: Span,
}

impl<'a> FnRef<'a> {
    fn expand(&self, args: &Args, name: &str) -> TokenStream {
        let krate = match &args.krate {
            Some(k) => k.value.to_token_stream(),
            None => quote!(::chatobs_runtime),
        };
        let gen = Gen {
            krate,
            args,
            name: LitStr::new(name, Span::call_site()),
        };
        let (outer, inner): (Vec<&Attribute>, Vec<&Attribute>) = self
            .attrs
            .iter()
            .partition(|a| matches!(a.style, syn::AttrStyle::Outer));
        let block = self.block;
        let body = match Shape::of(self.sig, block) {
            Shape::Sync => {
                let ret = fn_ret(self.sig);
                let stmts = &block.stmts;
                gen.instrumented(Some(&ret), false, None, quote!({ #(#stmts)* }))
            }
            Shape::AsyncFn => {
                let ret = fn_ret(self.sig);
                let stmts = &block.stmts;
                let mv = quote!(move);
                gen.instrumented(Some(&ret), true, Some(mv), quote!({ #(#stmts)* }))
            }
            Shape::TailAsync {
                tail,
                async_expr,
                pin,
            } => {
                let ret = match &self.sig.output {
                    ReturnType::Type(_, ty) => future_output(ty).map(|t| Ret {
                        ty: erase_impl_trait(t),
                        span: t.span(),
                    }),
                    ReturnType::Default => None,
                };
                // Fresh braces around the user's statements (as for the other
                // shapes): the user's own braces would trip `unused_braces`.
                let user = &async_expr.block.stmts;
                let inner_body = gen.instrumented(
                    ret.as_ref(),
                    true,
                    async_expr.capture.map(|m| m.to_token_stream()),
                    quote!({ #(#user)* }),
                );
                let attrs = &async_expr.attrs;
                let async_token = &async_expr.async_token;
                let capture = &async_expr.capture;
                let mut fut = quote!(#(#attrs)* #async_token #capture);
                async_expr
                    .block
                    .brace_token
                    .surround(&mut fut, |t| inner_body.to_tokens(t));
                let new_tail = match pin {
                    Some(func) => quote_spanned!(tail.span()=> #func(#fut)),
                    None => fut,
                };
                let before = &block.stmts[..block.stmts.len() - 1];
                quote!(#(#before)* #new_tail)
            }
        };
        let prefix = &self.prefix;
        let sig = self.sig;
        let mut out = quote!(#(#outer)* #prefix #sig);
        block.brace_token.surround(&mut out, |tokens| {
            for attr in inner {
                attr.to_tokens(tokens);
            }
            body.to_tokens(tokens);
        });
        out
    }
}

fn fn_ret(sig: &Signature) -> Ret {
    match &sig.output {
        ReturnType::Type(_, ty) => Ret {
            ty: erase_impl_trait(ty),
            span: ty.span(),
        },
        // Point at the function's name when there is no return type.
        ReturnType::Default => Ret {
            ty: syn::parse_quote!(()),
            span: sig.ident.span(),
        },
    }
}

/// `X` in `impl Future<Output = X>`, `Pin<Box<dyn Future<Output = X> + Send>>`, ...
fn future_output(ty: &Type) -> Option<&Type> {
    let bounds = match ty {
        Type::ImplTrait(t) => Some(&t.bounds),
        Type::TraitObject(t) => Some(&t.bounds),
        _ => None,
    };
    if let Some(bounds) = bounds {
        for bound in bounds {
            let TypeParamBound::Trait(t) = bound else {
                continue;
            };
            let Some(seg) = t.path.segments.last() else {
                continue;
            };
            if seg.ident != "Future" {
                continue;
            }
            if let PathArguments::AngleBracketed(a) = &seg.arguments {
                for arg in &a.args {
                    if let GenericArgument::AssocType(at) = arg {
                        if at.ident == "Output" {
                            return Some(&at.ty);
                        }
                    }
                }
            }
        }
        return None;
    }
    match ty {
        Type::Path(p) => p.path.segments.iter().find_map(|seg| match &seg.arguments {
            PathArguments::AngleBracketed(a) => a.args.iter().find_map(|arg| match arg {
                GenericArgument::Type(t) => future_output(t),
                _ => None,
            }),
            _ => None,
        }),
        Type::Paren(p) => future_output(&p.elem),
        Type::Group(g) => future_output(&g.elem),
        _ => None,
    }
}

struct ImplTraitEraser;

impl VisitMut for ImplTraitEraser {
    fn visit_type_mut(&mut self, t: &mut Type) {
        if let Type::ImplTrait(..) = t {
            *t = syn::TypeInfer {
                underscore_token: Default::default(),
            }
            .into();
        } else {
            syn::visit_mut::visit_type_mut(self, t);
        }
    }
}

/// Whether an erased type still has a `_` in it.
fn has_infer(ty: &Type) -> bool {
    struct Finder(bool);
    impl VisitMut for Finder {
        fn visit_type_mut(&mut self, t: &mut Type) {
            if let Type::Infer(_) = t {
                self.0 = true;
            } else {
                syn::visit_mut::visit_type_mut(self, t);
            }
        }
    }
    let mut finder = Finder(false);
    finder.visit_type_mut(&mut ty.clone());
    finder.0
}

fn erase_impl_trait(ty: &Type) -> Type {
    let mut ty = ty.clone();
    ImplTraitEraser.visit_type_mut(&mut ty);
    ty
}

// ---- the generated statements ------------------------------------------------------

struct Gen<'a> {
    krate: TokenStream,
    args: &'a Args,
    name: LitStr,
}

impl Gen<'_> {
    /// The statements that replace a body: the site, the span, the call of
    /// the body through `in_scope` / `in_future`, the outcome, the value.
    fn instrumented(
        &self,
        ret: Option<&Ret>,
        is_async: bool,
        mv: Option<TokenStream>,
        user_block: TokenStream,
    ) -> TokenStream {
        let k = &self.krate;
        let site = self.site();
        let build = self.build();
        if let (
            Some(Ret {
                ty: Type::Never(_), ..
            }),
            false,
        ) = (ret, is_async)
        {
            // `-> !`: the body never returns; a panic ends the span as it unwinds.
            return quote! {
                static __CHATOBS_SITE: #k::__private::Site = #site;
                let mut __chatobs_span = #k::__private::ChatSpan::start(&__CHATOBS_SITE, #build);
                __chatobs_span.in_scope(move || -> ! #user_block)
            };
        }
        // A `return` of the declared type ahead of the body fixes the type of
        // the closure / async block, so type errors (and `?` conversions) in
        // the body are checked against the user's signature, on the user's line.
        let fake_return = ret.map(|Ret { ty, span }| {
            quote_spanned! {*span=>
                #[allow(
                    unknown_lints,
                    unreachable_code,
                    clippy::diverging_sub_expression,
                    clippy::empty_loop,
                    clippy::let_unit_value,
                    clippy::let_with_type_underscore,
                    clippy::needless_return,
                    clippy::unreachable
                )]
                if false {
                    let __chatobs_fake_return: #ty = loop {};
                    return __chatobs_fake_return;
                }
            }
        });
        // `: R` is left out when R has an `impl Trait` (erased to `_`).
        let annotation = ret
            .filter(|r| !has_infer(&r.ty))
            .map(|Ret { ty, .. }| quote!(: #ty));
        let is_unit = ret.is_some_and(|r| matches!(&r.ty, Type::Tuple(t) if t.elems.is_empty()));
        let unit_allow = is_unit.then(|| quote!(#[allow(clippy::let_unit_value)]));
        let call = if is_async {
            quote! {
                #unit_allow
                let __chatobs_ret #annotation = __chatobs_span
                    .in_future(async #mv { #fake_return #user_block })
                    .await;
            }
        } else {
            quote! {
                #unit_allow
                #[allow(clippy::redundant_closure_call)]
                let __chatobs_ret #annotation = __chatobs_span
                    .in_scope(move || { #fake_return #user_block });
            }
        };
        quote! {
            static __CHATOBS_SITE: #k::__private::Site = #site;
            let mut __chatobs_span = #k::__private::ChatSpan::start(&__CHATOBS_SITE, #build);
            #call
            __chatobs_span.end(#k::__private::outcome!(__chatobs_ret));
            __chatobs_ret
        }
    }

    fn site(&self) -> TokenStream {
        let k = &self.krate;
        let a = self.args;
        let name = &self.name;
        let level = match &a.level {
            Some(l) => l.value.variant.clone(),
            None => Ident::new("INFO", Span::call_site()),
        };
        let none = quote!(::core::option::Option::None);
        let some = |t: TokenStream| quote!(::core::option::Option::Some(#t));
        let role = match a.role.as_ref().map(|r| &r.value) {
            Some(RoleArg::Builtin { constant }) => some(quote!(#k::Role::#constant)),
            Some(RoleArg::Path(p)) => {
                quote_spanned!(p.span()=> ::core::option::Option::Some(#p))
            }
            None => none.clone(),
        };
        let kind = match &a.kind {
            Some(c) => {
                let v = &c.value.variant;
                some(quote!(#k::vocab::SpanKind::#v))
            }
            None => none.clone(),
        };
        let category = match &a.category {
            Some(c) => {
                let v = &c.value.variant;
                some(quote!(#k::vocab::TemplateCategory::#v))
            }
            None => none.clone(),
        };
        let tags = a.tags.as_ref().map(|t| t.value.as_slice()).unwrap_or(&[]);
        let model = match &a.model {
            Some(m) => some(m.value.to_token_stream()),
            None => none.clone(),
        };
        let provider = match &a.provider {
            Some(p) => some(p.value.to_token_stream()),
            None => none,
        };
        quote! {
            #k::__private::site!(
                name: #name,
                level: #level,
                role: #role,
                kind: #kind,
                category: #category,
                tags: &[#(#tags),*],
                model: #model,
                provider: #provider,
            )
        }
    }

    /// The closure that sets the call-time attributes on the span builder.
    fn build(&self) -> TokenStream {
        let a = self.args;
        let mut calls = Vec::new();
        // Each call is spanned at the user's expression, so a type error (a
        // step that is not `Display`, a session of the wrong type, a captured
        // value that is not `Debug`) is reported there.
        if let Some(step) = &a.step {
            calls.push(match &step.value {
                StepArg::Static(s) => quote!(__chatobs_b.step_static(#s);),
                StepArg::Expr(e) => quote_spanned!(e.span()=> __chatobs_b.step(&(#e));),
            });
        }
        if let Some(session) = &a.session {
            let e = &session.value;
            calls.push(quote_spanned! {e.span()=>
                __chatobs_b.session(::core::borrow::Borrow::borrow(&(#e)));
            });
        }
        if let Some(capture) = &a.capture {
            for name in &capture.value {
                let key = LitStr::new(&name.to_string(), name.span());
                calls.push(quote_spanned!(name.span()=> __chatobs_b.capture(#key, &#name);));
            }
        }
        if calls.is_empty() {
            quote!(|_| {})
        } else {
            quote!(|__chatobs_b| { #(#calls)* })
        }
    }
}

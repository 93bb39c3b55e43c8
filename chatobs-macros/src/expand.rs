//! Code generation, the last of three passes (parse in `attr.rs`, validate in
//! `validate.rs`, then this): the function is rewritten in place, its
//! signature tokens re-emitted unchanged, and its body wrapped in a few calls
//! into `chatobs_runtime::__private` (see `docs/macro-contract.md`). Only
//! valid attributes get here, and never with the `off` feature.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    Attribute, Block, Expr, ExprAsync, GenericArgument, Ident, ImplItem, ItemImpl, LitStr,
    PathArguments, ReturnType, Signature, Stmt, Type, TypeParamBound,
};

use crate::attr::{Args, RoleArg, StepArg};
use crate::strip::strip_inner_attrs;
use crate::validate::Target;

/// Generates the code of a valid attribute; `item` is the item's tokens as
/// written.
pub(crate) fn expand(target: Target, item: TokenStream) -> TokenStream {
    match target {
        Target::Fn(f, args) => {
            let fun = FnRef {
                attrs: &f.attrs,
                prefix: f.vis.to_token_stream(),
                sig: &f.sig,
                block: &f.block,
            };
            let name = match &args.name {
                Some(n) => n.value.value(),
                None => f.sig.ident.to_string(),
            };
            fun.expand(&args, &name)
        }
        Target::Impl(imp, methods) => expand_impl(&imp, &methods),
        Target::Verbatim => strip_inner_attrs(item),
    }
}

// ---- impl blocks ---------------------------------------------------------------

/// Rewrites the selected methods of an impl block (whose methods' own
/// `#[chat_span]` validation took out), each named `<Type>.<method>` unless
/// it sets `name`.
fn expand_impl(imp: &ItemImpl, methods: &[(usize, Args)]) -> TokenStream {
    let type_name = type_name(&imp.self_ty);
    let mut out_items = Vec::new();
    for (index, item) in imp.items.iter().enumerate() {
        if let ImplItem::Fn(f) = item {
            if let Some((_, args)) = methods.iter().find(|(i, _)| *i == index) {
                let name = match &args.name {
                    Some(n) => n.value.value(),
                    None => format!("{type_name}.{}", f.sig.ident),
                };
                let mut prefix = f.vis.to_token_stream();
                f.defaultness.to_tokens(&mut prefix);
                let fun = FnRef {
                    attrs: &f.attrs,
                    prefix,
                    sig: &f.sig,
                    block: &f.block,
                };
                out_items.push(fun.expand(args, &name));
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
    } = imp;
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

/// Renders a type or path as compact text (`<Type>.<method>` span names, `Box::pin`).
fn compact(tokens: &impl ToTokens) -> String {
    tokens.to_token_stream().to_string().replace(' ', "")
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
        if let Some(fields) = &a.fields {
            let k = &self.krate;
            for f in &fields.value {
                let key = LitStr::new(&f.key, f.key_span);
                let e = &f.value;
                // Spanned at the value: a type that is not an attribute value
                // is reported there.
                calls.push(
                    quote_spanned!(e.span()=> #k::__private::field(__chatobs_b, #key, &(#e));),
                );
            }
        }
        if calls.is_empty() {
            quote!(|_| {})
        } else {
            quote!(|__chatobs_b| { #(#calls)* })
        }
    }
}

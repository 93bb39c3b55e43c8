//! Parsing of `#[chat_span(...)]` arguments into a typed model.
//!
//! This is the first of three passes (parse, then `validate.rs`, then
//! `expand.rs`). Parsing turns each option's tokens into a typed value: a
//! value of the wrong shape, a duplicate key or a value outside a closed set
//! (taken from `chatobs_vocab`, the vocabulary the runtime writes) is a parse
//! error. Rules that relate options to each other or to the annotated item are
//! checked by `validate.rs`.
//!
//! Parsing never stops at the first problem: every option is parsed on its
//! own, and each error is kept (at its token) so that one compile shows all
//! the mistakes of an attribute at once.

use chatobs_vocab::{Role, SpanKind, TemplateCategory};
use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt;
use syn::parse::discouraged::Speculative;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Expr, ExprLit, Ident, Lit, LitStr, Token};

/// Custom keywords: one per option of `#[chat_span]` (`crate` is Rust's own).
pub(crate) mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(role);
    syn::custom_keyword!(step);
    syn::custom_keyword!(tags);
    syn::custom_keyword!(template_category);
    syn::custom_keyword!(kind);
    syn::custom_keyword!(model);
    syn::custom_keyword!(provider);
    syn::custom_keyword!(session);
    syn::custom_keyword!(capture);
    syn::custom_keyword!(fields);
    syn::custom_keyword!(level);
    syn::custom_keyword!(skip);
}

/// Every option, in the order the documentation lists them.
pub(crate) const KEYS: &[&str] = &[
    "name",
    "role",
    "step",
    "tags",
    "template_category",
    "kind",
    "model",
    "provider",
    "session",
    "capture",
    "fields",
    "level",
    "crate",
    "skip",
];

/// The built-in roles, as `role = "..."` accepts them: `chatobs_vocab`'s
/// [`Role::BUILTIN`], in its order (the order error messages list them in).
pub(crate) const BUILTIN_ROLES: [&str; Role::BUILTIN.len()] = {
    let mut out = [""; Role::BUILTIN.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = Role::BUILTIN[i].as_str();
        i += 1;
    }
    out
};

/// `(written value, variant name)` of every member of a `chatobs_vocab` closed
/// set, in the order of its `ALL`.
macro_rules! vocab_pairs {
    ($set:ident, $written:ident) => {{
        let mut out = [("", ""); $set::ALL.len()];
        let mut i = 0;
        while i < out.len() {
            out[i] = ($set::ALL[i].$written(), $set::ALL[i].variant_name());
            i += 1;
        }
        out
    }};
}

/// WhatsApp template categories: (written value, `TemplateCategory` variant),
/// from [`TemplateCategory::ALL`].
pub(crate) const CATEGORIES: [(&str, &str); TemplateCategory::ALL.len()] =
    vocab_pairs!(TemplateCategory, as_str);

/// OpenInference span kinds: (written value, `SpanKind` variant), from
/// [`SpanKind::ALL`].
pub(crate) const KINDS: [(&str, &str); SpanKind::ALL.len()] = vocab_pairs!(SpanKind, written);

/// How `kind = llm` is written (`model` and `provider` need it).
pub(crate) const LLM_KIND: &str = SpanKind::Llm.written();

/// Levels: (written value, `tracing`-style constant). Levels are `tracing`'s,
/// not chatobs' vocabulary, so they are listed here.
pub(crate) const LEVELS: &[(&str, &str)] = &[
    ("trace", "TRACE"),
    ("debug", "DEBUG"),
    ("info", "INFO"),
    ("warn", "WARN"),
    ("error", "ERROR"),
];

/// A value together with the span of the key that set it.
#[derive(Clone)]
pub(crate) struct Opt<T> {
    pub key: Span,
    pub value: T,
}

/// `role = ...`
#[derive(Clone)]
pub(crate) enum RoleArg {
    /// A built-in role written as a string: the name of its `Role` constant.
    Builtin { constant: Ident },
    /// A path to a user-declared `Role` constant, resolved by rustc.
    Path(syn::Path),
}

/// `step = ...`
#[derive(Clone)]
pub(crate) enum StepArg {
    /// A string literal, exported as is.
    Static(LitStr),
    /// Any expression implementing `Display`, evaluated at call time.
    Expr(Expr),
}

/// A member of a closed set (category, kind, level): the variant to emit.
#[derive(Clone)]
pub(crate) struct Choice {
    /// The value as written (`"llm"`).
    pub written: String,
    /// The emitted variant / constant (`Llm`), spanned at the user's token.
    pub variant: Ident,
}

/// One `key = expr` of `fields(...)`: your own attribute, evaluated at call time.
#[derive(Clone)]
pub(crate) struct FieldArg {
    /// The dotted key (`lead.temperature`), checked by `chatobs_vocab::custom`.
    pub key: String,
    /// Where the key was written.
    pub key_span: Span,
    /// The value.
    pub value: Expr,
}

/// The typed model of one `#[chat_span(...)]` attribute.
#[derive(Clone, Default)]
pub(crate) struct Args {
    pub name: Option<Opt<LitStr>>,
    pub role: Option<Opt<RoleArg>>,
    pub step: Option<Opt<StepArg>>,
    pub tags: Option<Opt<Vec<LitStr>>>,
    pub category: Option<Opt<Choice>>,
    pub kind: Option<Opt<Choice>>,
    pub model: Option<Opt<LitStr>>,
    pub provider: Option<Opt<LitStr>>,
    pub session: Option<Opt<Expr>>,
    pub capture: Option<Opt<Vec<Ident>>>,
    pub fields: Option<Opt<Vec<FieldArg>>>,
    pub level: Option<Opt<Choice>>,
    pub krate: Option<Opt<syn::Path>>,
    pub skip: Option<Opt<()>>,
    /// Every problem found while parsing, each at its token (validation adds
    /// its own after these: see `validate.rs`).
    pub errors: Vec<syn::Error>,
    /// The keys written so far (duplicate detection).
    seen: Vec<&'static str>,
}

impl Args {
    /// Parses attribute arguments, keeping every error in `errors`.
    pub(crate) fn parse_tokens(tokens: TokenStream) -> Args {
        match Parser::parse2(Args::parse, tokens) {
            Ok(args) => args,
            // Only reachable if syn reports a token left over; keep it.
            Err(e) => Args {
                errors: vec![e],
                ..Args::default()
            },
        }
    }

    /// Parses a method's own `#[chat_span]` / `#[chat_span(...)]` inside an
    /// annotated impl block (`#[chat_span = ..]` is an error).
    pub(crate) fn parse_attribute(attr: &Attribute) -> Args {
        match &attr.meta {
            syn::Meta::Path(_) => Args::default(),
            syn::Meta::List(list) => Args::parse_tokens(list.tokens.clone()),
            syn::Meta::NameValue(nv) => Args {
                errors: vec![syn::Error::new(
                    nv.eq_token.span,
                    "write the options in parentheses: #[chat_span(step = \"pay\")]",
                )],
                ..Args::default()
            },
        }
    }

    /// The parse errors, taken out (validation adds its own after them).
    pub(crate) fn take_errors(&mut self) -> Vec<syn::Error> {
        std::mem::take(&mut self.errors)
    }

    /// The keys present, in documentation order.
    pub(crate) fn set_keys(&self) -> Vec<&'static str> {
        let present = [
            self.name.is_some(),
            self.role.is_some(),
            self.step.is_some(),
            self.tags.is_some(),
            self.category.is_some(),
            self.kind.is_some(),
            self.model.is_some(),
            self.provider.is_some(),
            self.session.is_some(),
            self.capture.is_some(),
            self.fields.is_some(),
            self.level.is_some(),
            self.krate.is_some(),
            self.skip.is_some(),
        ];
        KEYS.iter()
            .zip(present)
            .filter_map(|(k, p)| p.then_some(*k))
            .collect()
    }

    /// The block options a method inherits: all but `name`, `capture` and
    /// `skip`, which belong to one method.
    pub(crate) fn inheritable(&self) -> Args {
        Args {
            name: None,
            capture: None,
            skip: None,
            errors: Vec::new(),
            seen: Vec::new(),
            ..self.clone()
        }
    }

    /// The options of a method inside an annotated `impl` block: every key the
    /// method sets replaces the block's value.
    pub(crate) fn merged_over(&self, block: &Args) -> Args {
        macro_rules! pick {
            ($($f:ident),*) => {
                Args {
                    $($f: self.$f.clone().or_else(|| block.$f.clone()),)*
                    errors: Vec::new(),
                    seen: Vec::new(),
                }
            };
        }
        pick!(
            name, role, step, tags, category, kind, model, provider, session, capture, fields,
            level, krate, skip
        )
    }
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            if let Err(e) = args.parse_one(input) {
                args.errors.push(e);
                skip_to_comma(input);
            }
            if input.is_empty() {
                break;
            }
            if let Err(e) = input.parse::<Token![,]>() {
                args.errors.push(syn::Error::new(
                    e.span(),
                    "expected `,` between options of #[chat_span]",
                ));
                skip_to_comma(input);
                let _ = input.parse::<Option<Token![,]>>();
            }
        }
        Ok(args)
    }
}

/// What follows a key: nothing, `= value` or `(list)`.
enum Value {
    None,
    Eq(Expr),
    List(Span, TokenStream),
}

impl Value {
    fn parse(input: ParseStream<'_>) -> syn::Result<Value> {
        if input.peek(Token![=]) {
            let eq: Token![=] = input.parse()?;
            if input.is_empty() || input.peek(Token![,]) {
                return Err(syn::Error::new(eq.span, "expected a value after `=`"));
            }
            // Parse on a fork so that a broken expression cannot leave syn's
            // "unexpected token" state behind; on success, move past it.
            let fork = input.fork();
            let expr: Expr = fork.parse()?;
            input.advance_to(&fork);
            Ok(Value::Eq(expr))
        } else if input.peek(syn::token::Paren) {
            let content;
            let paren = syn::parenthesized!(content in input);
            Ok(Value::List(paren.span.join(), content.parse()?))
        } else {
            Ok(Value::None)
        }
    }
}

impl Args {
    /// Records that `key` was written; true if it was already (even when its
    /// first value was rejected, so the duplicate is still reported).
    fn seen(&mut self, key: &'static str) -> bool {
        if self.seen.contains(&key) {
            return true;
        }
        self.seen.push(key);
        false
    }

    fn parse_one(&mut self, input: ParseStream<'_>) -> syn::Result<()> {
        macro_rules! key {
            ($kw:ident, $field:ident, $parse:expr) => {
                if input.peek(kw::$kw) {
                    let k: kw::$kw = input.parse()?;
                    let value = Value::parse(input)?;
                    if self.seen(stringify!($kw)) {
                        return Err(duplicate(stringify!($kw), k.span));
                    }
                    #[allow(clippy::redundant_closure_call)]
                    let value = ($parse)(k.span, value)?;
                    self.$field = Some(Opt { key: k.span, value });
                    return Ok(());
                }
            };
        }
        key!(name, name, |k, v| lit_str(
            "name",
            k,
            v,
            "`name = \"classifier.predict\"`"
        ));
        key!(role, role, parse_role);
        key!(step, step, parse_step);
        key!(tags, tags, parse_tags);
        key!(template_category, category, |k, v| choice(
            "template_category",
            k,
            v,
            &CATEGORIES,
            "`template_category = marketing`"
        ));
        key!(kind, kind, |k, v| choice(
            "kind",
            k,
            v,
            &KINDS,
            "`kind = chain`"
        ));
        key!(model, model, |k, v| lit_str(
            "model",
            k,
            v,
            "`model = \"gemini-1.5-flash\"`"
        ));
        key!(provider, provider, |k, v| lit_str(
            "provider",
            k,
            v,
            "`provider = \"gcp.gemini\"`"
        ));
        key!(session, session, |k, v| expr(
            "session",
            k,
            v,
            "`session = msg.session()`"
        ));
        key!(capture, capture, parse_capture);
        key!(fields, fields, parse_fields);
        key!(level, level, |k, v| choice(
            "level",
            k,
            v,
            LEVELS,
            "`level = debug`"
        ));
        key!(skip, skip, |k, v| match v {
            Value::None => Ok(()),
            _ => Err(syn::Error::new(
                k,
                "`skip` takes no value: write `#[chat_span(skip)]`"
            )),
        });
        if input.peek(Token![crate]) {
            let k: Token![crate] = input.parse()?;
            let value = Value::parse(input)?;
            if self.seen("crate") {
                return Err(duplicate("crate", k.span));
            }
            let path = match value {
                Value::Eq(Expr::Path(p)) if p.qself.is_none() => p.path,
                other => return Err(wrong(k.span, "crate", &other, "`crate = my_crate::obs`")),
            };
            self.krate = Some(Opt {
                key: k.span,
                value: path,
            });
            return Ok(());
        }
        // Not a known option: say what is allowed, and suggest the nearest key.
        match input.call(Ident::parse_any) {
            Ok(ident) => {
                let _ = Value::parse(input);
                let written = ident.to_string();
                let hint = match suggest(&written, KEYS) {
                    Some(s) => format!("did you mean `{s}`? "),
                    None => String::new(),
                };
                Err(syn::Error::new(
                    ident.span(),
                    format!(
                        "unknown option `{written}` for #[chat_span]: {hint}expected one of: {}",
                        KEYS.join(", ")
                    ),
                ))
            }
            Err(_) => Err(input.error(format!(
                "expected an option of #[chat_span], one of: {}",
                KEYS.join(", ")
            ))),
        }
    }
}

fn duplicate(key: &str, span: Span) -> syn::Error {
    syn::Error::new(
        span,
        format!("duplicate option `{key}`: each option of #[chat_span] may appear once"),
    )
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::None => "no value",
        Value::List(..) => "a parenthesized list",
        Value::Eq(Expr::Lit(ExprLit {
            lit: Lit::Str(_), ..
        })) => "a string literal",
        Value::Eq(Expr::Lit(_)) => "a literal",
        Value::Eq(Expr::Path(_)) => "a path",
        Value::Eq(_) => "an expression",
    }
}

fn wrong(key_span: Span, key: &str, value: &Value, example: &str) -> syn::Error {
    let span = match value {
        Value::Eq(e) => e.span(),
        Value::List(s, _) => *s,
        Value::None => key_span,
    };
    syn::Error::new(
        span,
        format!(
            "wrong value for `{key}`: found {}, expected for example {example}",
            describe(value)
        ),
    )
}

fn lit_str(key: &str, k: Span, v: Value, example: &str) -> syn::Result<LitStr> {
    match v {
        Value::Eq(Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        })) => {
            if s.value().is_empty() {
                return Err(syn::Error::new(
                    s.span(),
                    format!("`{key}` cannot be empty"),
                ));
            }
            Ok(s)
        }
        other => Err(wrong(k, key, &other, example)),
    }
}

fn expr(key: &str, k: Span, v: Value, example: &str) -> syn::Result<Expr> {
    match v {
        Value::Eq(e) => Ok(e),
        other => Err(wrong(k, key, &other, example)),
    }
}

fn parse_step(k: Span, v: Value) -> syn::Result<StepArg> {
    match expr("step", k, v, "`step = \"pay\"` or `step = state.step()`")? {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(StepArg::Static(s)),
        e => Ok(StepArg::Expr(e)),
    }
}

fn parse_role(k: Span, v: Value) -> syn::Result<RoleArg> {
    let example = "`role = \"sales\"` or `role = roles::LEAD_BOT`";
    match v {
        Value::Eq(Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        })) => {
            let written = s.value();
            if BUILTIN_ROLES.contains(&written.as_str()) {
                Ok(RoleArg::Builtin {
                    constant: Ident::new(&written.to_uppercase(), s.span()),
                })
            } else {
                let hint = match suggest(&written, &BUILTIN_ROLES) {
                    Some(r) => format!(": did you mean `{r}`?"),
                    None => ":".to_string(),
                };
                Err(syn::Error::new(
                    s.span(),
                    format!(
                        "unknown role `{written}`{hint} built-in roles are: {}; declare your own \
                         with chatobs_runtime::roles! and pass it as a path",
                        BUILTIN_ROLES.join(", ")
                    ),
                ))
            }
        }
        Value::Eq(Expr::Path(p)) if p.qself.is_none() => {
            if let Some(ident) = p.path.get_ident() {
                let written = ident.to_string();
                if BUILTIN_ROLES.contains(&written.as_str()) {
                    return Err(syn::Error::new(
                        ident.span(),
                        format!(
                            "a built-in role is written as a string: `role = \"{written}\"` \
                             (a path must name a `chatobs_runtime::Role` constant)"
                        ),
                    ));
                }
            }
            Ok(RoleArg::Path(p.path))
        }
        other => Err(wrong(k, "role", &other, example)),
    }
}

fn parse_list(key: &str, k: Span, v: Value, example: &str) -> syn::Result<Vec<Expr>> {
    match v {
        Value::List(_, tokens) => {
            let items = Punctuated::<Expr, Token![,]>::parse_terminated.parse2(tokens)?;
            Ok(items.into_iter().collect())
        }
        other => Err(wrong(k, key, &other, example)),
    }
}

fn parse_tags(k: Span, v: Value) -> syn::Result<Vec<LitStr>> {
    let mut tags = Vec::new();
    let mut errors = Vec::new();
    for item in parse_list("tags", k, v, "`tags(\"checkout\", \"vip\")`")? {
        match item {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) if !s.value().is_empty() => tags.push(s),
            other => errors.push(syn::Error::new(
                other.span(),
                "a tag is a non-empty string literal: `tags(\"checkout\", \"vip\")`",
            )),
        }
    }
    match combine(errors) {
        Some(e) => Err(e),
        None => Ok(tags),
    }
}

fn parse_capture(k: Span, v: Value) -> syn::Result<Vec<Ident>> {
    let mut names = Vec::new();
    let mut errors = Vec::new();
    for item in parse_list("capture", k, v, "`capture(text, state)`")? {
        match &item {
            Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                names.push(p.path.get_ident().unwrap().clone());
            }
            other => errors.push(syn::Error::new(
                other.span(),
                "`capture` takes parameter names: `capture(text, state)` or `capture(self)`",
            )),
        }
    }
    match combine(errors) {
        Some(e) => Err(e),
        None => Ok(names),
    }
}

/// `fields(lead.temperature = score, "user.id" = id)`: dotted keys (or
/// string literals) of your own namespace, each once.
fn parse_fields(k: Span, v: Value) -> syn::Result<Vec<FieldArg>> {
    let example = "`fields(lead.temperature = score, intent.confidence = p)`";
    let mut out: Vec<FieldArg> = Vec::new();
    let mut errors = Vec::new();
    for item in parse_list("fields", k, v, example)? {
        let Expr::Assign(a) = item else {
            errors.push(syn::Error::new(
                item.span(),
                format!("each field is `key = value`: {example}"),
            ));
            continue;
        };
        let key_span = a.left.span();
        let Some(key) = field_key(&a.left) else {
            errors.push(syn::Error::new(
                key_span,
                format!(
                    "a field key is dotted names or a string: `lead.temperature = ...` or `\"user.id\" = ...`; {example}"
                ),
            ));
            continue;
        };
        if let Some(why) = chatobs_vocab::custom::check_key(&key) {
            errors.push(syn::Error::new(key_span, why));
            continue;
        }
        if out.iter().any(|f| f.key == key) {
            errors.push(syn::Error::new(
                key_span,
                format!("duplicate field `{key}`: each key of `fields(...)` may appear once"),
            ));
            continue;
        }
        out.push(FieldArg {
            key,
            key_span,
            value: *a.right,
        });
    }
    match combine(errors) {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// `lead.temperature` (a field access chain on a plain name) or `"user.id"`.
fn field_key(e: &Expr) -> Option<String> {
    match e {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s.value()),
        Expr::Path(p) if p.qself.is_none() => p.path.get_ident().map(|i| i.to_string()),
        Expr::Field(f) => match &f.member {
            syn::Member::Named(m) => Some(format!("{}.{}", field_key(&f.base)?, m)),
            syn::Member::Unnamed(_) => None,
        },
        _ => None,
    }
}

fn choice(
    key: &str,
    k: Span,
    v: Value,
    set: &[(&str, &str)],
    example: &str,
) -> syn::Result<Choice> {
    let (written, span) = match &v {
        Value::Eq(Expr::Path(p)) if p.qself.is_none() && p.path.get_ident().is_some() => {
            let ident = p.path.get_ident().unwrap();
            (ident.to_string(), ident.span())
        }
        Value::Eq(Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        })) => (s.value(), s.span()),
        _ => return Err(wrong(k, key, &v, example)),
    };
    match set.iter().find(|(w, _)| *w == written) {
        Some((_, variant)) => Ok(Choice {
            written,
            variant: Ident::new(variant, span),
        }),
        None => {
            let allowed: Vec<&str> = set.iter().map(|(w, _)| *w).collect();
            let hint = match suggest(&written, &allowed) {
                Some(s) => format!("did you mean `{s}`? "),
                None => String::new(),
            };
            Err(syn::Error::new(
                span,
                format!(
                    "unknown {key} `{written}`: {hint}expected one of: {}",
                    allowed.join(", ")
                ),
            ))
        }
    }
}

/// The nearest allowed word, if one is close enough to be a likely typo.
pub(crate) fn suggest<'a>(written: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let lower = written.to_lowercase();
    let best = allowed
        .iter()
        .map(|a| (strsim::jaro_winkler(&lower, a), *a))
        .max_by(|x, y| x.0.total_cmp(&y.0));
    match best {
        Some((score, a)) if score >= 0.8 => Some(a),
        // `category` for `template_category`, `tag` for `tags`, ...
        _ if lower.len() >= 3 => allowed
            .iter()
            .find(|a| a.contains(lower.as_str()) || lower.contains(**a))
            .copied(),
        _ => None,
    }
}

/// Skips to the next top-level `,` (not consuming it), after an error.
fn skip_to_comma(input: ParseStream<'_>) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if let proc_macro2::TokenTree::Punct(p) = &tt {
                if p.as_char() == ',' {
                    break;
                }
            }
            rest = next;
        }
        Ok(((), rest))
    });
}

/// Combines errors into one `syn::Error` (rustc shows each at its span).
pub(crate) fn combine(errors: impl IntoIterator<Item = syn::Error>) -> Option<syn::Error> {
    let mut iter = errors.into_iter();
    let mut first = iter.next()?;
    for e in iter {
        first.combine(e);
    }
    Some(first)
}

/// Whether an attribute is `#[chat_span]` (or `#[some::path::chat_span]`).
pub(crate) fn is_chat_span(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "chat_span")
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    /// The one parse error of `tokens`.
    fn parse_error(tokens: TokenStream) -> String {
        let args = Args::parse_tokens(tokens);
        assert_eq!(args.errors.len(), 1, "expected one error");
        args.errors[0].to_string()
    }

    /// The `role = "..."` error message listing the built-in roles, as the
    /// ui snapshots (tests/ui/fail/role_*.stderr) spell it.
    fn role_message(written: &str, hint: &str) -> String {
        format!(
            "unknown role `{written}`{hint} built-in roles are: classifier, orchestrator, sales, \
             pqr, support, gateway, retriever, tool, evaluator, handoff, operator; declare your \
             own with chatobs_runtime::roles! and pass it as a path"
        )
    }

    #[test]
    fn suggests_near_keys_and_values() {
        assert_eq!(suggest("nmae", KEYS), Some("name"));
        assert_eq!(suggest("tag", KEYS), Some("tags"));
        assert_eq!(suggest("category", KEYS), Some("template_category"));
        assert_eq!(suggest("colour", KEYS), None);
        assert_eq!(suggest("salse", &BUILTIN_ROLES), Some("sales"));
        assert_eq!(suggest("lead_bot", &BUILTIN_ROLES), None);
    }

    #[test]
    fn keeps_every_error_of_an_attribute() {
        let args = Args::parse_tokens(quote! {
            nmae = "x", role = "salse", kind = chian, level = loud, role = "pqr", step = "ok"
        });
        assert_eq!(args.errors.len(), 5);
        // What parsed is kept.
        assert!(matches!(
            args.step.map(|s| s.value),
            Some(StepArg::Static(_))
        ));
    }

    #[test]
    fn accepts_any_order() {
        let a = Args::parse_tokens(quote!(kind = llm, model = "m", role = "sales", crate = x));
        let b = Args::parse_tokens(quote!(crate = x, role = "sales", model = "m", kind = llm,));
        for args in [a, b] {
            assert!(args.errors.is_empty());
            assert_eq!(args.set_keys(), ["role", "kind", "model", "crate"]);
        }
    }

    #[test]
    fn builtin_roles_are_the_vocabularys() {
        assert_eq!(BUILTIN_ROLES, Role::BUILTIN.map(Role::as_str));
        for role in Role::BUILTIN {
            let lit = LitStr::new(role.as_str(), Span::call_site());
            let args = Args::parse_tokens(quote!(role = #lit));
            assert!(args.errors.is_empty(), "role = {lit:?} is rejected");
            match args.role.map(|r| r.value) {
                Some(RoleArg::Builtin { constant }) => {
                    assert_eq!(constant, role.as_str().to_uppercase())
                }
                _ => panic!("role = {lit:?} is not a built-in role"),
            }
        }
    }

    #[test]
    fn rejects_roles_outside_the_vocabulary() {
        assert_eq!(
            parse_error(quote!(role = "salse")),
            role_message("salse", ": did you mean `sales`?")
        );
        assert_eq!(
            parse_error(quote!(role = "Classifier")),
            role_message("Classifier", ": did you mean `classifier`?")
        );
        assert_eq!(
            parse_error(quote!(role = "lead_bot")),
            role_message("lead_bot", ":")
        );
        // The message lists the vocabulary's roles, in its order.
        let listed = Role::BUILTIN.map(Role::as_str).join(", ");
        assert!(role_message("x", ":").contains(&format!("are: {listed};")));
        // A built-in role written as a path.
        assert_eq!(
            parse_error(quote!(role = sales)),
            "a built-in role is written as a string: `role = \"sales\"` (a path must name a \
             `chatobs_runtime::Role` constant)"
        );
    }

    #[test]
    fn span_kinds_are_the_vocabularys() {
        assert_eq!(
            KINDS,
            SpanKind::ALL.map(|k| (k.written(), k.variant_name()))
        );
        assert_eq!(LLM_KIND, "llm");
        for kind in SpanKind::ALL {
            let ident = Ident::new(kind.written(), Span::call_site());
            let lit = LitStr::new(kind.written(), Span::call_site());
            for tokens in [quote!(kind = #ident), quote!(kind = #lit)] {
                let args = Args::parse_tokens(tokens.clone());
                assert!(args.errors.is_empty(), "`{tokens}` is rejected");
                let choice = args.kind.unwrap().value;
                assert_eq!(choice.written, kind.written());
                assert_eq!(choice.variant, kind.variant_name());
            }
        }
        let listed = SpanKind::ALL.map(SpanKind::written).join(", ");
        assert_eq!(
            listed,
            "llm, chain, agent, tool, evaluator, retriever, embedding, guardrail, reranker, \
             prompt, unknown"
        );
        assert_eq!(
            parse_error(quote!(kind = llmm)),
            format!("unknown kind `llmm`: did you mean `llm`? expected one of: {listed}")
        );
        assert_eq!(
            parse_error(quote!(kind = "workflow")),
            format!("unknown kind `workflow`: expected one of: {listed}")
        );
        assert_eq!(
            parse_error(quote!(kind = LLM)),
            format!("unknown kind `LLM`: did you mean `llm`? expected one of: {listed}")
        );
    }

    #[test]
    fn template_categories_are_the_vocabularys() {
        assert_eq!(
            CATEGORIES,
            TemplateCategory::ALL.map(|c| (c.as_str(), c.variant_name()))
        );
        for category in TemplateCategory::ALL {
            let ident = Ident::new(category.as_str(), Span::call_site());
            let lit = LitStr::new(category.as_str(), Span::call_site());
            for tokens in [
                quote!(template_category = #ident),
                quote!(template_category = #lit),
            ] {
                let args = Args::parse_tokens(tokens.clone());
                assert!(args.errors.is_empty(), "`{tokens}` is rejected");
                let choice = args.category.unwrap().value;
                assert_eq!(choice.written, category.as_str());
                assert_eq!(choice.variant, category.variant_name());
            }
        }
        let listed = TemplateCategory::ALL
            .map(TemplateCategory::as_str)
            .join(", ");
        assert_eq!(listed, "marketing, utility, authentication, service");
        assert_eq!(
            parse_error(quote!(template_category = promotion)),
            format!("unknown template_category `promotion`: expected one of: {listed}")
        );
        assert_eq!(
            parse_error(quote!(template_category = "marketting")),
            format!(
                "unknown template_category `marketting`: did you mean `marketing`? expected one \
                 of: {listed}"
            )
        );
    }
}

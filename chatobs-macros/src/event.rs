//! `chat_event!`: parse the event name and its `field = value` pairs, check
//! them against the closed vocabulary (`chatobs_vocab::events::ALL`), then
//! generate one call into `chatobs_runtime::__private::chat_event` whose
//! typed helpers make rustc check each value's type at the value.

use chatobs_vocab::events::{self, ChatEvent, FieldKind};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::spanned::Spanned;
use syn::{Expr, Ident, Token};

use crate::attr::suggest;

/// `chat_event!(message.delivered, channel = "whatsapp", content = &text)`, as written.
pub(crate) struct Input {
    /// The dotted name's segments (`message`, `delivered`).
    name: Vec<Ident>,
    /// The `field = value` pairs, in order.
    fields: Vec<(Ident, Expr)>,
}

impl Input {
    /// The name as written (`message.delivered`).
    fn written(&self) -> String {
        self.name
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(".")
    }

    /// The name's tokens (an error on them spans the whole name).
    fn name_tokens(&self) -> TokenStream {
        let mut t = TokenStream::new();
        for (i, seg) in self.name.iter().enumerate() {
            if i > 0 {
                Token![.](seg.span()).to_tokens(&mut t);
            }
            seg.to_tokens(&mut t);
        }
        t
    }
}

const SYNTAX: &str = "expected a chat event name and its fields, for example \
                      `chat_event!(message.delivered, channel = \"whatsapp\", content = &text)`";

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.is_empty() {
            return Err(syn::Error::new(Span::call_site(), SYNTAX));
        }
        let mut name = vec![input
            .call(Ident::parse_any)
            .map_err(|e| syn::Error::new(e.span(), SYNTAX))?];
        while input.peek(Token![.]) {
            input.parse::<Token![.]>()?;
            name.push(input.call(Ident::parse_any)?);
        }
        let mut fields = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let field: Ident = input.call(Ident::parse_any)?;
            if !input.peek(Token![=]) {
                return Err(syn::Error::new(
                    field.span(),
                    format!("field `{field}` needs a value: `{field} = ...`"),
                ));
            }
            input.parse::<Token![=]>()?;
            let value: Expr = input.parse()?;
            fields.push((field, value));
        }
        Ok(Input { name, fields })
    }
}

/// Checks the event and every field; every error is reported at its token.
fn validate(input: &Input) -> Result<&'static ChatEvent, syn::Error> {
    let written = input.written();
    let Some(event) = events::find(&written) else {
        let names: Vec<&str> = events::ALL.iter().map(|e| e.name).collect();
        let msg = match suggest(&written, &names) {
            Some(s) => format!("unknown chat event `{written}`; did you mean `{s}`?"),
            None => format!(
                "unknown chat event `{written}`; expected one of: {}",
                names.join(", ")
            ),
        };
        return Err(syn::Error::new_spanned(input.name_tokens(), msg));
    };
    let allowed: Vec<&str> = event.fields.iter().map(|f| f.name).collect();
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    for (i, (field, _)) in input.fields.iter().enumerate() {
        let name = field.to_string();
        if event.field(&name).is_none() {
            let hint = match suggest(&name, &allowed) {
                Some(s) => format!("did you mean `{s}`? "),
                None => String::new(),
            };
            push(syn::Error::new(
                field.span(),
                format!(
                    "unknown field `{name}` for chat event `{written}`: {hint}expected one of: {}",
                    allowed.join(", ")
                ),
            ));
        } else if input.fields[..i].iter().any(|(f, _)| *f == name) {
            push(syn::Error::new(
                field.span(),
                format!("duplicate field `{name}` for chat event `{written}`"),
            ));
        }
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(event),
    }
}

/// Generates the call: the metric is counted at once, and the values are
/// evaluated and recorded only when a span records or the log line is enabled.
fn expand(event: &ChatEvent, input: &Input) -> TokenStream {
    let konst = Ident::new(
        &event.name.to_uppercase().replace('.', "_"),
        input.name[0].span(),
    );
    let rec = Ident::new("__chatobs_event", Span::mixed_site());
    let values = input.fields.iter().map(|(field, value)| {
        let name = field.to_string();
        let (index, f) = event
            .fields
            .iter()
            .enumerate()
            .find(|(_, f)| f.name == name)
            .map(|(i, f)| (i, *f))
            .unwrap_or((0, event.fields[0])); // validated: never taken
        let helper = match f.kind {
            FieldKind::Str => quote!(str_field),
            FieldKind::I64 => quote!(i64_field),
            FieldKind::F64 => quote!(f64_field),
            FieldKind::Bool => quote!(bool_field),
            FieldKind::Content => quote!(content_field),
        };
        let helper = quote_spanned!(value.span()=> #helper);
        quote_spanned!(value.span()=> #rec.#helper(#index, &(#value)))
    });
    quote! {
        if let ::core::option::Option::Some(#rec) = ::chatobs_runtime::__private::chat_event(
            &::chatobs_runtime::vocab::events::#konst,
        ) {
            #rec.record(&[#(#values),*]);
        }
    }
}

/// What `chat_event!` does, on `proc_macro2` tokens.
pub(crate) fn chat_event_tokens(tokens: TokenStream) -> TokenStream {
    let result = syn::parse2::<Input>(tokens).and_then(|input| {
        let event = validate(&input)?;
        Ok(expand(event, &input))
    });
    match result {
        Ok(code) => quote!({ #code }),
        Err(e) => {
            let e = e.to_compile_error();
            quote!({ #e })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(tokens: TokenStream) -> Vec<String> {
        let input = match syn::parse2::<Input>(tokens) {
            Ok(i) => i,
            Err(e) => return e.into_iter().map(|e| e.to_string()).collect(),
        };
        match validate(&input) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn a_typo_in_the_name_suggests_the_nearest_event() {
        assert_eq!(
            errors(quote!(message.deliverd, channel = "whatsapp")),
            ["unknown chat event `message.deliverd`; did you mean `message.delivered`?"]
        );
        assert_eq!(
            errors(quote!(auth.permision_denied)),
            ["unknown chat event `auth.permision_denied`; did you mean `auth.permission_denied`?"]
        );
        assert_eq!(
            errors(quote!(ai.tool_called_x)),
            ["unknown chat event `ai.tool_called_x`; did you mean `ai.tool_called`?"]
        );
    }

    #[test]
    fn a_name_far_from_every_event_lists_them_all() {
        let e = errors(quote!(billing.invoice_paid));
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("unknown chat event `billing.invoice_paid`; expected one of: conversation.created, "),
            "{}",
            e[0]
        );
        assert!(e[0].ends_with("auth.permission_denied"), "{}", e[0]);
    }

    #[test]
    fn every_field_error_at_once() {
        assert_eq!(
            errors(quote!(message.failed, chanel = "x", content = t, errorcode = 1, content = u, colour = 2)),
            [
                "unknown field `chanel` for chat event `message.failed`: did you mean `channel`? \
                 expected one of: channel, message_type, content, error_code",
                "unknown field `errorcode` for chat event `message.failed`: did you mean `error_code`? \
                 expected one of: channel, message_type, content, error_code",
                "duplicate field `content` for chat event `message.failed`",
                "unknown field `colour` for chat event `message.failed`: \
                 expected one of: channel, message_type, content, error_code",
            ]
        );
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(errors(quote!()), [SYNTAX]);
        assert_eq!(errors(quote!("message.sent")), [SYNTAX]);
        assert_eq!(
            errors(quote!(message.sent, channel)),
            ["field `channel` needs a value: `channel = ...`"]
        );
        assert_eq!(errors(quote!(message.sent channel = "x")), ["expected `,`"]);
    }

    #[test]
    fn every_event_and_field_of_the_vocabulary_is_accepted() {
        for ev in events::ALL {
            let segs: Vec<Ident> = ev
                .name
                .split('.')
                .map(|s| Ident::new(s, Span::call_site()))
                .collect();
            let fields = ev.fields.iter().map(|f| {
                let f = Ident::new(f.name, Span::call_site());
                quote!(, #f = x)
            });
            let tokens = quote!(#(#segs).* #(#fields)*);
            assert_eq!(errors(tokens), Vec::<String>::new(), "{}", ev.name);
        }
    }

    #[test]
    fn the_expansion_is_one_call_with_typed_values() {
        let code = chat_event_tokens(quote!(
            message.failed,
            channel = "whatsapp",
            content = &text,
            error_code = 131026,
        ))
        .to_string();
        for part in [
            ":: chatobs_runtime :: __private :: chat_event (& :: chatobs_runtime :: vocab :: events :: MESSAGE_FAILED ,)",
            "__chatobs_event . str_field (0usize , & (\"whatsapp\"))",
            "__chatobs_event . content_field (2usize , & (& text))",
            "__chatobs_event . i64_field (3usize , & (131026))",
        ] {
            assert!(code.contains(part), "{part} not in {code}");
        }
        // A trailing comma and no field at all are fine.
        let code = chat_event_tokens(quote!(auth.logout,)).to_string();
        assert!(code.contains("AUTH_LOGOUT"), "{code}");
        assert!(code.contains("record (& [])"), "{code}");
    }
}

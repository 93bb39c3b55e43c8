//! Endpoint URLs: parsed with `url` (WHATWG rules: ports in range, hosts
//! IDNA-encoded) and re-checked with `http::Uri`, the type tonic and hyper
//! take, so that what passes here never fails (or panics) in a transport.

use crate::config::{OtlpProtocol, Signal};

/// A checked endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `https://host:port/path` with no trailing slash, ASCII (IDNA) host.
    pub base: String,
    /// Whether the scheme is https.
    pub https: bool,
    /// The path (no trailing slash; empty for `/`).
    pub path: String,
}

/// The endpoint as an error message may show it: only when it carries no
/// user information or query (where credentials hide), cut to 120 bytes.
pub(crate) fn shown(raw: &str) -> String {
    if raw.contains('@') || raw.contains('?') || raw.contains('#') {
        return "(not shown: it may contain credentials)".into();
    }
    let mut s: String = raw.chars().take(120).collect();
    if s.len() < raw.len() {
        s.push('…');
    }
    format!("{s:?}")
}

/// Parses `raw` (empty is fine: not configured).
pub(crate) fn parse(raw: &str) -> Result<Option<Endpoint>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let example = "expected http(s)://host[:port][/path], for example https://collector.example.com:4317 (gRPC) or https://collector.example.com:4318 (HTTP/protobuf)";
    let url = match url::Url::parse(raw) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            return Err(format!("{} has no scheme: {example}", shown(raw)))
        }
        Err(e) => {
            return Err(format!(
                "{} is not a valid URL ({e}): {example}",
                shown(raw)
            ))
        }
    };
    let https = match url.scheme() {
        "https" => true,
        "http" => false,
        other if !url.has_host() => {
            // `localhost:4317` parses as scheme `localhost`.
            let _ = other;
            return Err(format!(
                "{} has no http:// or https:// scheme: {example}",
                shown(raw)
            ));
        }
        other => {
            return Err(format!(
                "{} uses the scheme {other:?}: {example}",
                shown(raw)
            ))
        }
    };
    match url.host_str() {
        None | Some("") => return Err(format!("{} has no host: {example}", shown(raw))),
        Some(_) => {}
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "contains a user name or password: credentials belong in headers (OTEL_EXPORTER_OTLP_HEADERS), never in the URL".into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(
            "contains a query string or fragment, which OTLP exporters do not send as such (and which may hold a credential): remove it; put credentials in OTEL_EXPORTER_OTLP_HEADERS".into(),
        );
    }
    let base = url.as_str().trim_end_matches('/').to_owned();
    // What tonic and hyper will parse: must agree.
    if let Err(e) = base.parse::<http::Uri>() {
        return Err(format!(
            "{} is not a valid URI ({e}): {example}",
            shown(raw)
        ));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    Ok(Some(Endpoint { base, https, path }))
}

impl Endpoint {
    /// The URL an exporter of `signal` over `protocol` sends to.
    ///
    /// HTTP/protobuf: the base with `/v1/<signal>` added unless it already
    /// ends in it; a traces URL given for metrics has its `/v1/traces` swapped.
    /// gRPC: the base (gRPC paths come from the service).
    pub fn for_signal(&self, signal: Signal, protocol: OtlpProtocol) -> String {
        match protocol {
            OtlpProtocol::Grpc => self.base.clone(),
            OtlpProtocol::HttpProtobuf => {
                let suffix = format!("/v1/{}", signal.name());
                if self.base.ends_with(&suffix) {
                    return self.base.clone();
                }
                let mut base = self.base.as_str();
                for other in ["/v1/traces", "/v1/metrics", "/v1/logs"] {
                    if let Some(b) = base.strip_suffix(other) {
                        base = b;
                    }
                }
                format!("{base}{suffix}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_and_bad_endpoints() {
        let e = parse("https://api.honeycomb.io/").unwrap().unwrap();
        assert_eq!(e.base, "https://api.honeycomb.io");
        assert!(e.https);
        assert_eq!(
            e.for_signal(Signal::Traces, OtlpProtocol::HttpProtobuf),
            "https://api.honeycomb.io/v1/traces"
        );
        let e = parse("http://h:4318/v1/traces").unwrap().unwrap();
        assert_eq!(
            e.for_signal(Signal::Metrics, OtlpProtocol::HttpProtobuf),
            "http://h:4318/v1/metrics"
        );
        assert_eq!(
            parse("http://bücher.example").unwrap().unwrap().base,
            "http://xn--bcher-kva.example"
        );
        for bad in [
            "http://exa mple.com",
            "localhost:4317",
            "https://h:99999",
            "http://",
            "ftp://h",
            "http://u:p@h",
            "http://h/?k=v",
            "://",
            "http://[::1",
            "💥",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse("  ").unwrap(), None);
        assert!(!shown("http://h?api_key=x").contains("api_key"));
    }
}

//! Which `tracing` spans the bridge exports: `[tracing] spans`, parsed into
//! [`SpanFilter`] (a per-layer [`Filter`]).
//!
//! Only the level and the target are read, so every decision is fixed per
//! callsite: `callsite_enabled` answers `always` or `never` once, and the
//! per-span cost is nothing (when another layer makes the callsite
//! "sometimes", `enabled` repeats the same few prefix comparisons).

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::Metadata;
use tracing_subscriber::layer::{Context, Filter};

/// Parsed `target=level` directives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Directives {
    default: LevelFilter,
    /// Longest target first: the most specific directive wins.
    targets: Vec<(Box<str>, LevelFilter)>,
}

impl Directives {
    const DEFAULT: Directives = Directives {
        default: LevelFilter::INFO,
        targets: Vec::new(),
    };

    fn level_for(&self, target: &str) -> LevelFilter {
        for (t, l) in &self.targets {
            if target.starts_with(&**t) {
                return *l;
            }
        }
        self.default
    }

    fn max_level(&self) -> LevelFilter {
        self.targets
            .iter()
            .map(|(_, l)| *l)
            .fold(self.default, std::cmp::max)
    }

    pub(crate) fn is_off(&self) -> bool {
        self.max_level() == LevelFilter::OFF
    }
}

fn parse_level(s: &str) -> Option<LevelFilter> {
    Some(match s.to_ascii_lowercase().as_str() {
        "off" => LevelFilter::OFF,
        "error" => LevelFilter::ERROR,
        "warn" => LevelFilter::WARN,
        "info" => LevelFilter::INFO,
        "debug" => LevelFilter::DEBUG,
        "trace" => LevelFilter::TRACE,
        _ => return None,
    })
}

pub(crate) fn parse_directives(s: &str) -> Result<Directives, String> {
    let mut d = Directives {
        default: LevelFilter::OFF,
        targets: Vec::new(),
    };
    let mut default_set = false;
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part.contains(['[', ']', '{', '}']) {
            return Err(format!(
                "{:?}: span and field directives are not supported here; use `level` or `target=level` (e.g. `info,sqlx=warn`)",
                crate::redact::truncate(part, 64)
            ));
        }
        match part.split_once('=') {
            Some((target, level)) => {
                let target = target.trim();
                let Some(level) = parse_level(level.trim()) else {
                    return Err(format!(
                        "unknown level {:?} for target {:?}: expected off, error, warn, info, debug or trace",
                        crate::redact::truncate(level.trim(), 32),
                        crate::redact::truncate(target, 64)
                    ));
                };
                if target.is_empty() {
                    return Err(format!("{part:?} has an empty target"));
                }
                d.targets.retain(|(t, _)| &**t != target);
                d.targets.push((target.into(), level));
            }
            None => match parse_level(part) {
                Some(level) => {
                    d.default = level;
                    default_set = true;
                }
                // A bare target enables every level of it, as in `RUST_LOG`.
                None if part.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-' | b'.')
                }) =>
                {
                    d.targets.retain(|(t, _)| &**t != part);
                    d.targets.push((part.into(), LevelFilter::TRACE));
                }
                None => {
                    return Err(format!(
                    "{:?} is neither a level (off, error, warn, info, debug, trace) nor a target",
                    crate::redact::truncate(part, 64)
                ))
                }
            },
        }
    }
    if !default_set && d.targets.is_empty() {
        return Err(
            "empty: write a level such as `info` (or `off` to export no tracing span)".into(),
        );
    }
    d.targets.sort_by_key(|t| std::cmp::Reverse(t.0.len()));
    Ok(d)
}

/// The directives `configure` set (leaked: a handful per process; an
/// unchanged configuration publishes nothing). Null: the default, `info`.
static CONFIGURED: AtomicPtr<Directives> = AtomicPtr::new(std::ptr::null_mut());

pub(crate) fn set_configured(d: Directives) {
    // SAFETY: only pointers from `Box::leak` are stored, and never freed.
    if unsafe { CONFIGURED.load(Ordering::Acquire).as_ref() } == Some(&d) {
        return;
    }
    let leaked: &'static mut Directives = Box::leak(Box::new(d));
    CONFIGURED.store(leaked, Ordering::Release);
}

fn configured() -> &'static Directives {
    static DEFAULT: Directives = Directives::DEFAULT;
    // SAFETY: only pointers from `Box::leak` are stored, and never freed.
    unsafe { CONFIGURED.load(Ordering::Acquire).as_ref() }.unwrap_or(&DEFAULT)
}

/// Whether `meta` is the `tracing` callsite of a `#[chat_span]` function:
/// those spans are chatobs' own (exported by the chat span path), never bridged.
pub(crate) fn is_chat_site(meta: &Metadata<'_>) -> bool {
    let sf = crate::span::SITE_FIELDS;
    meta.target() == "chatobs"
        && meta.is_span()
        && meta.fields().len() == sf.len()
        && meta.fields().iter().zip(sf).all(|(f, n)| f.name() == *n)
}

/// The bridge's per-layer filter: which spans (and which events inside them)
/// the bridge sees, by level and target.
///
/// [`SpanFilter::configured`] follows `[tracing] spans` as `init` last set it
/// (`info` before that); [`SpanFilter::parse`] fixes its own directives.
/// The spans of `#[chat_span]` functions are always declined (chatobs
/// exports them itself).
#[derive(Clone, Debug)]
pub struct SpanFilter {
    own: Option<Arc<Directives>>,
}

impl SpanFilter {
    /// Follows the configured `[tracing] spans`.
    pub fn configured() -> SpanFilter {
        SpanFilter { own: None }
    }

    /// Fixed directives: `info`, `info,sqlx=warn,hyper=off`, `my_bot=debug`, `off`.
    /// The error says which directive is wrong and what is allowed.
    pub fn parse(directives: &str) -> Result<SpanFilter, String> {
        Ok(SpanFilter {
            own: Some(Arc::new(parse_directives(directives)?)),
        })
    }

    fn directives(&self) -> &Directives {
        match &self.own {
            Some(d) => d,
            None => configured(),
        }
    }

    /// Whether spans and events of `meta` are bridged.
    #[inline]
    pub fn would_enable(&self, meta: &Metadata<'_>) -> bool {
        *meta.level() <= self.directives().level_for(meta.target()) && !is_chat_site(meta)
    }
}

impl<S> Filter<S> for SpanFilter {
    #[inline]
    fn enabled(&self, meta: &Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        self.would_enable(meta)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.would_enable(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.directives().max_level())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_parse_and_the_longest_target_wins() {
        let d = parse_directives("info, sqlx=warn, sqlx::query=off,my_bot::db=debug").unwrap();
        assert_eq!(d.level_for("my_bot"), LevelFilter::INFO);
        assert_eq!(d.level_for("my_bot::db::pool"), LevelFilter::DEBUG);
        assert_eq!(d.level_for("sqlx::pool"), LevelFilter::WARN);
        assert_eq!(d.level_for("sqlx::query"), LevelFilter::OFF);
        assert_eq!(d.max_level(), LevelFilter::DEBUG);
        assert!(parse_directives("off").unwrap().is_off());
        assert_eq!(
            parse_directives("warn,reqwest")
                .unwrap()
                .level_for("reqwest::x"),
            LevelFilter::TRACE
        );
    }

    #[test]
    fn bad_directives_say_what_is_allowed() {
        for (bad, says) in [
            ("", "empty"),
            ("sqlx=", "unknown level"),
            ("in fo", "neither a level"),
            ("sqlx=loud", "unknown level"),
            ("=info", "empty target"),
            ("my_bot[request]=debug", "not supported"),
            ("info,héllo wörld", "neither a level"),
        ] {
            let e = parse_directives(bad).unwrap_err();
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }
}

//! Reading a file into sections: each key laid over the section's defaults
//! and tried on its own, errors located by line.

use super::{Errors, Section};
use crate::Error;
use std::path::Path;

/// Deserializes section `T` from its table of a file laid over the section's
/// defaults (tables merge key by key, so `[alerts.rules.llm_call_cost]
/// above = 0.10` changes one value of a shipped rule and a new rule adds to
/// them). Each key is tried on its own, so every bad key is reported (with
/// its line in `text` when it can be found) rather than only the first; the
/// good keys still apply.
pub fn section_from<T: Section>(
    value: Option<toml::Value>,
    text: Option<&str>,
    errs: &mut Errors,
) -> T {
    let Some(value) = value else {
        return T::default();
    };
    let toml::Value::Table(user) = value else {
        errs.push(T::KEY, format!("expected a table ([{}])", T::KEY));
        return T::default();
    };
    let base = match toml::Value::try_from(T::default()) {
        Ok(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    };
    let mut all = base.clone();
    merge(&mut all, user.clone());
    if let Ok(v) = T::deserialize(toml::Value::Table(all)) {
        return v;
    }
    let mut good = base.clone();
    for (k, v) in user {
        let mut one = toml::Table::new();
        one.insert(k.clone(), v);
        let mut trial = base.clone();
        merge(&mut trial, one.clone());
        match T::deserialize(toml::Value::Table(trial)) {
            Ok(_) => merge(&mut good, one),
            Err(e) => push_toml_error(errs, T::KEY, &k, e.message(), text),
        }
    }
    match T::deserialize(toml::Value::Table(good)) {
        Ok(v) => v,
        Err(e) => {
            errs.push(T::KEY, e.message().to_owned());
            T::default()
        }
    }
}

/// Lays `over` on `base`: tables merge key by key, anything else replaces.
pub fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn push_toml_error(errs: &mut Errors, section: &str, key: &str, message: &str, text: Option<&str>) {
    match text.and_then(|t| find_key_line(t, section, key).map(|n| (t, n))) {
        Some((t, line)) => {
            let snippet = safe_snippet(t.lines().nth(line - 1).unwrap_or(""));
            errs.push(
                format!("line {line}"),
                format!(
                    "{} (at `{snippet}`, key {section}.{key})",
                    scrub_values(message)
                ),
            );
        }
        None => errs.push(format!("{section}.{key}"), scrub_values(message)),
    }
}

/// The 1-based line where `section.key` is set in `text`: `key = ...` under a
/// `[section]` header, a `[section.key]` / `[section.key.x]` header, or a
/// dotted `section.key = ...` at the top level.
pub fn find_key_line(text: &str, section: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    let starts_key = |line: &str, k: &str| {
        line.strip_prefix(k)
            .or_else(|| {
                line.strip_prefix('"')
                    .and_then(|l| l.strip_prefix(k))
                    .and_then(|l| l.strip_prefix('"'))
            })
            .is_some_and(|rest| {
                let rest = rest.trim_start();
                rest.starts_with('=') || rest.starts_with('.')
            })
    };
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(h) = line.strip_prefix('[') {
            let h = h.trim_start_matches('[');
            let name: String = h
                .split(']')
                .next()
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            let own = format!("{section}.{key}");
            if name == own || name.starts_with(&format!("{own}.")) {
                return Some(i + 1);
            }
            current = name;
            continue;
        }
        if current == section && starts_key(line, key) {
            return Some(i + 1);
        }
        if current.is_empty() && starts_key(line, &format!("{section}.{key}")) {
            return Some(i + 1);
        }
    }
    None
}

/// Parses TOML text into a table, or an error naming the line.
pub fn parse_table(text: &str, file: Option<&Path>) -> Result<toml::Table, Error> {
    text.parse::<toml::Table>()
        .map_err(|e| toml_syntax_error(file, &e, text))
}

fn toml_syntax_error(file: Option<&Path>, e: &toml::de::Error, text: &str) -> Error {
    let mut key = String::from("(file)");
    let mut reason = scrub_values(e.message());
    if let Some(span) = e.span() {
        let line = text
            .get(..span.start.min(text.len()))
            .unwrap_or(text)
            .matches('\n')
            .count()
            + 1;
        let snippet = safe_snippet(text.lines().nth(line - 1).unwrap_or(""));
        key = format!("line {line}");
        reason = format!("{reason} (at `{snippet}`)");
    }
    Error::config(file, key, reason)
}

/// A line of the file as an error message may show it: what comes before
/// `=` (the key), never the value (which may be a secret), cut to 80 bytes.
fn safe_snippet(line: &str) -> String {
    let line = line.trim();
    let shown = match line.split_once('=') {
        Some((k, _)) => format!("{} = …", k.trim()),
        None => line.to_owned(),
    };
    crate::redact::truncate(&crate::redact::redact_free_text(&shown), 80)
}

/// A parser's message without the values it quotes (`invalid type: string
/// "Bearer …"` becomes `invalid type: string (value not shown)`): a value in
/// a configuration file may be a secret.
fn scrub_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find('"') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let mut end = None;
        let mut escaped = false;
        for (j, c) in after.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(j);
                    break;
                }
                _ => escaped = false,
            }
        }
        match end {
            Some(j) => {
                out.push_str("(value not shown)");
                rest = &after[j + 1..];
            }
            None => {
                out.push_str("(value not shown)");
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ExporterConfig;
    use std::path::PathBuf;

    #[test]
    fn error_messages_never_show_a_value() {
        let text = "[otlp]\nheaders = \"Bearer s3cr3t-token\"\n[exporter\nx = \"api-key-123\"";
        let e = parse_table(text, None).unwrap_err().to_string();
        assert!(!e.contains("api-key-123"), "{e}");
        // A value of the wrong type: the parser's message would quote it.
        let text = "[exporter]\nkinds = \"Bearer s3cr3t-token\"\n";
        let table = parse_table(text, None).unwrap();
        let mut errs = Errors::new(None);
        let _: ExporterConfig = section_from(table.get("exporter").cloned(), Some(text), &mut errs);
        let e = errs.into_result().unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(!e.contains("s3cr3t") && !e.contains("Bearer"), "{e}");
        assert_eq!(
            scrub_values(r#"invalid type: string "a\"b", expected a map"#),
            "invalid type: string (value not shown), expected a map"
        );
        assert_eq!(safe_snippet("  token = \"x\"  "), "token = …");
    }

    #[test]
    fn finds_the_line_of_a_key() {
        let t = "[service]\nname = \"x\"\n\n[exporter]\n  queue_sise = 1\n[alerts.rules.x]\nabove = 1\n";
        assert_eq!(find_key_line(t, "exporter", "queue_sise"), Some(5));
        assert_eq!(find_key_line(t, "service", "name"), Some(2));
        assert_eq!(find_key_line(t, "alerts", "rules"), Some(6));
        assert_eq!(find_key_line(t, "exporter", "missing"), None);
        assert_eq!(
            find_key_line("exporter.kinds = []\n", "exporter", "kinds"),
            Some(1)
        );
    }

    #[test]
    fn every_bad_key_of_a_section_is_reported() {
        let text = "[exporter]\nqueue_size = \"big\"\nbatch_sise = 1\nfile_path = \"x.jsonl\"\n";
        let table = parse_table(text, None).unwrap();
        let mut errs = Errors::new(Some(Path::new("obs.toml")));
        let cfg: ExporterConfig =
            section_from(table.get("exporter").cloned(), Some(text), &mut errs);
        assert_eq!(
            cfg.file_path,
            PathBuf::from("x.jsonl"),
            "good keys still apply"
        );
        let e = errs.into_result().unwrap_err().to_string();
        assert!(e.contains("obs.toml: line 2:"), "{e}");
        assert!(
            e.contains("obs.toml: line 3: unknown field `batch_sise`"),
            "{e}"
        );
    }
}

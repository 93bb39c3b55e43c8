//! Readability computed locally, with no LLM: Flesch reading ease and
//! Flesch-Kincaid grade for English, Fernandez-Huerta and Szigriszt-Pazos
//! for Spanish.
//!
//! # Agreement with textstat 0.7.3
//!
//! The figures are meant to be the ones Python's `textstat==0.7.3` prints,
//! so bot owners can compare with the tool they know. chatobs therefore does
//! what textstat does, step by step, rather than what a textbook says:
//!
//! * **Syllables** come from Liang's hyphenation algorithm with the very
//!   pattern files pyphen 0.18.1 ships (`hyph_en_US.dic`, `hyph_es.dic`,
//!   embedded, about 160 KB; see `dict/LICENSES.txt`), with pyphen's
//!   defaults (no break in the first 2 or last 2 letters): a word has
//!   `hyphenation points + 1` syllables. The `hyphenation` crate was the
//!   other candidate; its TeX patterns and right minimum of 3 undercount
//!   words such as "fast-er", which moves Flesch reading ease by several
//!   points on short texts, so the pyphen files won.
//! * **Words** are whitespace-separated tokens after removing every
//!   character that is neither a word character nor whitespace (so
//!   "don't" is one word, "e-mail" is "email", and a lone "-" is nothing).
//! * **Sentences** are the matches of textstat's `\b[^.!?]+[.!?]*`; matches
//!   with 2 words or fewer are not counted (at least 1 sentence). A decimal
//!   number ("3.5") therefore splits a sentence, as in textstat.
//! * **Rounding**: words per sentence and syllables per word are rounded to
//!   one decimal *before* the formula, and the result to 2 decimals (grade:
//!   1), half away from zero, like textstat's `_legacy_round`. The exact
//!   counts are in [`Readability::words`], [`Readability::sentences`] and
//!   [`Readability::syllables`] if you want the unrounded formula.
//!
//! Where the two can still differ (measured in the `evals_readability`
//! test, which runs textstat live over 12 English and 12 Spanish texts, and
//! found no difference at all on them):
//!
//! * characters whose Unicode class differs between Python and Rust:
//!   Python's `\w` is `str.isalnum()` plus `_`, Rust's `char::is_alphanumeric`
//!   also accepts a few combining vowel signs (`Other_Alphabetic`, in Indic
//!   scripts, not in Latin text), so such marks count as letters here and as
//!   punctuation in textstat;
//! * text mixing languages: each side uses one dictionary for the whole text.
//!
//! ```
//! use chatobs_runtime::evals::readability::{readability, Lang};
//! let r = readability("The cat sat on the mat. It was a sunny day.", Some(Lang::En));
//! assert_eq!(r.language, Lang::En);
//! assert!(r.flesch_reading_ease > 90.0);
//! let es = readability("El gato se sentó en la alfombra. Hacía un día muy soleado.", None);
//! assert_eq!(es.language, Lang::Es);
//! assert!(es.fernandez_huerta.is_some());
//! ```

use std::collections::HashMap;
use std::sync::OnceLock;

/// A language the readability formulas support.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English (Flesch reading ease, Flesch-Kincaid grade).
    En,
    /// Spanish (Fernandez-Huerta, Szigriszt-Pazos).
    Es,
}

impl Lang {
    /// `en` or `es`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }
    /// Parses `en`, `es` (and `en_US`, `es-CO`, ...).
    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        let root = s.split(['_', '-']).next().unwrap_or("");
        match root {
            "en" => Some(Lang::En),
            "es" => Some(Lang::Es),
            _ => None,
        }
    }
}

/// The readability of a text.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Readability {
    /// The language the formulas were chosen for.
    pub language: Lang,
    /// Whether the language was detected (rather than given).
    pub detected: bool,
    /// Words (textstat's `lexicon_count`).
    pub words: usize,
    /// Sentences (textstat's `sentence_count`).
    pub sentences: usize,
    /// Syllables (textstat's `syllable_count`, pyphen patterns).
    pub syllables: usize,
    /// Flesch reading ease with the language's coefficients (textstat's
    /// `flesch_reading_ease` after `set_lang`): 206.835 - 1.015 ASL - 84.6 ASW
    /// for English, 206.84 - 1.02 ASL - 0.6 (syllables per 100 words) for Spanish.
    pub flesch_reading_ease: f64,
    /// Flesch-Kincaid grade (English only).
    pub flesch_kincaid_grade: Option<f64>,
    /// Fernandez-Huerta (Spanish only): 206.84 - 60 ASW - 1.02 ASL.
    pub fernandez_huerta: Option<f64>,
    /// Szigriszt-Pazos perspicuity (Spanish only): 206.84 - 62.3 S/W - W/F.
    pub szigriszt_pazos: Option<f64>,
}

impl Readability {
    /// The headline score: Flesch reading ease (English) or Fernandez-Huerta (Spanish).
    pub fn score(&self) -> f64 {
        match self.language {
            Lang::En => self.flesch_reading_ease,
            Lang::Es => self.fernandez_huerta.unwrap_or(self.flesch_reading_ease),
        }
    }

    /// The Flesch band of [`Readability::score`] (Fernandez-Huerta uses the same scale).
    pub fn label(&self) -> &'static str {
        band(self.score())
    }
}

/// The Flesch band of a reading-ease score.
pub fn band(score: f64) -> &'static str {
    match score {
        s if s >= 90.0 => "very_easy",
        s if s >= 80.0 => "easy",
        s if s >= 70.0 => "fairly_easy",
        s if s >= 60.0 => "standard",
        s if s >= 50.0 => "fairly_difficult",
        s if s >= 30.0 => "difficult",
        _ => "very_difficult",
    }
}

/// Every label [`band`] can return.
pub const LABELS: [&str; 7] = [
    "very_easy",
    "easy",
    "fairly_easy",
    "standard",
    "fairly_difficult",
    "difficult",
    "very_difficult",
];

/// Computes the readability of `text` in `lang`, or in the detected
/// language when `lang` is `None` (see [`detect_language`]).
pub fn readability(text: &str, lang: Option<Lang>) -> Readability {
    let (language, detected) = match lang {
        Some(l) => (l, false),
        None => (detect_language(text), true),
    };
    let words = lexicon_count(text);
    let sentences = sentence_count(text);
    let syllables = syllable_count(text, language);
    let asl = if sentences == 0 {
        0.0
    } else {
        legacy_round(words as f64 / sentences as f64, 1)
    };
    let asw = |interval: Option<f64>| -> f64 {
        if words == 0 {
            return 0.0;
        }
        let v = match interval {
            Some(i) => syllables as f64 * i / words as f64,
            None => syllables as f64 / words as f64,
        };
        legacy_round(v, 1)
    };
    match language {
        Lang::En => {
            let spw = asw(None);
            let fre = 206.835 - 1.015 * asl - 84.6 * spw;
            let fkg = 0.39 * asl + 11.8 * spw - 15.59;
            Readability {
                language,
                detected,
                words,
                sentences,
                syllables,
                flesch_reading_ease: legacy_round(fre, 2),
                flesch_kincaid_grade: Some(legacy_round(fkg, 1)),
                fernandez_huerta: None,
                szigriszt_pazos: None,
            }
        }
        Lang::Es => {
            let spw100 = asw(Some(100.0));
            let fre = 206.84 - 1.02 * asl - 0.6 * spw100;
            let spw = asw(None);
            let fh = 206.84 - 60.0 * spw - 1.02 * asl;
            let sp = if words == 0 || sentences == 0 {
                0.0
            } else {
                legacy_round(
                    206.84
                        - 62.3 * (syllables as f64 / words as f64)
                        - (words as f64 / sentences as f64),
                    2,
                )
            };
            Readability {
                language,
                detected,
                words,
                sentences,
                syllables,
                flesch_reading_ease: legacy_round(fre, 2),
                flesch_kincaid_grade: None,
                fernandez_huerta: Some(legacy_round(fh, 2)),
                szigriszt_pazos: Some(sp),
            }
        }
    }
}

/// textstat's `_legacy_round`: half away from zero at `points` decimals.
fn legacy_round(number: f64, points: i32) -> f64 {
    let p = 10f64.powi(points);
    (number * p + 0.5f64.copysign(number)).floor() / p
}

// ---- text primitives, as Python's `re` with re.UNICODE sees them -----------------

/// Python's `\w`: `str.isalnum()` or `_`.
fn is_word(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Python's `str.isspace()` / `\s`.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// textstat's `remove_punctuation` (apostrophes removed too): drops `[^\w\s]`.
fn remove_punctuation(text: &str) -> String {
    text.chars()
        .filter(|&c| is_word(c) || is_space(c))
        .collect()
}

fn split_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(is_space).filter(|w| !w.is_empty())
}

/// textstat's `lexicon_count`.
pub fn lexicon_count(text: &str) -> usize {
    split_words(&remove_punctuation(text)).count()
}

/// textstat's `sentence_count`: matches of `\b[^.!?]+[.!?]*` with more than two words.
pub fn sentence_count(text: &str) -> usize {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let term = |c: char| matches!(c, '.' | '!' | '?');
    let mut total = 0usize;
    let mut ignored = 0usize;
    let mut i = 0usize;
    while i <= n {
        let prev_w = i > 0 && is_word(chars[i - 1]);
        let next_w = i < n && is_word(chars[i]);
        if prev_w != next_w {
            let mut j = i;
            while j < n && !term(chars[j]) {
                j += 1;
            }
            if j > i {
                while j < n && term(chars[j]) {
                    j += 1;
                }
                let sentence: String = chars[i..j].iter().collect();
                total += 1;
                if lexicon_count(&sentence) <= 2 {
                    ignored += 1;
                }
                i = j;
                continue;
            }
        }
        i += 1;
    }
    (total - ignored).max(1)
}

/// textstat's `syllable_count` with pyphen's dictionary for `lang`.
pub fn syllable_count(text: &str, lang: Lang) -> usize {
    let lower = remove_punctuation(&text.to_lowercase());
    let dict = dictionary(lang);
    split_words(&lower).map(|w| dict.positions(w) + 1).sum()
}

/// Syllables of one word (pyphen positions + 1).
pub fn word_syllables(word: &str, lang: Lang) -> usize {
    dictionary(lang).positions(&word.to_lowercase()) + 1
}

// ---- pyphen's Liang hyphenation ------------------------------------------------------

const EN_US: &str = include_str!("dict/hyph_en_US.dic");
const ES: &str = include_str!("dict/hyph_es.dic");

/// pyphen's `HyphDict`: pattern -> (offset, values).
struct HyphDict {
    patterns: HashMap<String, (usize, Vec<u8>)>,
    maxlen: usize,
}

fn dictionary(lang: Lang) -> &'static HyphDict {
    static EN: OnceLock<HyphDict> = OnceLock::new();
    static SP: OnceLock<HyphDict> = OnceLock::new();
    match lang {
        Lang::En => EN.get_or_init(|| HyphDict::parse(EN_US)),
        Lang::Es => SP.get_or_init(|| HyphDict::parse(ES)),
    }
}

const IGNORED: [&str; 6] = [
    "%",
    "#",
    "LEFTHYPHENMIN",
    "RIGHTHYPHENMIN",
    "COMPOUNDLEFTHYPHENMIN",
    "COMPOUNDRIGHTHYPHENMIN",
];

impl HyphDict {
    fn parse(text: &str) -> HyphDict {
        let mut patterns = HashMap::new();
        for line in text.split('\n').skip(1) {
            let line = line.trim();
            if line.is_empty() || IGNORED.iter().any(|p| line.starts_with(p)) {
                continue;
            }
            let line = parse_hex(line);
            // Nonstandard hyphenation (`pattern/change,index,cut`): only the pattern counts here.
            let pattern = if line.contains('/') && line.contains('=') {
                line.split('/').next().unwrap_or("").to_owned()
            } else {
                line
            };
            // re.findall(r'(\d?)(\D?)', pattern)
            let chars: Vec<char> = pattern.chars().collect();
            let mut tags = String::new();
            let mut values: Vec<u8> = Vec::new();
            let mut p = 0;
            loop {
                let mut v = 0u8;
                let start = p;
                if p < chars.len() && chars[p].is_ascii_digit() {
                    v = chars[p] as u8 - b'0';
                    p += 1;
                }
                if p < chars.len() && !chars[p].is_ascii_digit() {
                    tags.push(chars[p]);
                    p += 1;
                }
                values.push(v);
                if p == start {
                    break; // the empty match at the end
                }
            }
            let Some(&max) = values.iter().max() else {
                continue;
            };
            if max == 0 {
                continue;
            }
            let start = values.iter().position(|&v| v != 0).unwrap_or(0);
            let end = values.iter().rposition(|&v| v != 0).map_or(0, |e| e + 1);
            patterns.insert(tags, (start, values[start..end].to_vec()));
        }
        let maxlen = patterns
            .keys()
            .map(|k| k.chars().count())
            .max()
            .unwrap_or(1);
        HyphDict { patterns, maxlen }
    }

    /// Number of hyphenation points pyphen keeps (`left = 2`, `right = 2`).
    fn positions(&self, word: &str) -> usize {
        let pointed = format!(".{word}.");
        // Byte offset of each char boundary (and the end).
        let bounds: Vec<usize> = pointed
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(pointed.len()))
            .collect();
        let n = bounds.len() - 1; // chars in the pointed word
        let mut refs = vec![0u8; n + 1];
        for i in 0..n.saturating_sub(1) {
            let stop = (i + self.maxlen).min(n);
            for j in i + 1..=stop {
                if let Some((offset, values)) = self.patterns.get(&pointed[bounds[i]..bounds[j]]) {
                    for (k, &v) in values.iter().enumerate() {
                        let idx = i + offset + k;
                        if idx < refs.len() && refs[idx] < v {
                            refs[idx] = v;
                        }
                    }
                }
            }
        }
        let word_len = word.chars().count() as isize;
        refs.iter()
            .enumerate()
            .filter(|(_, &r)| r % 2 == 1)
            .map(|(i, _)| i as isize - 1)
            .filter(|&pos| pos >= 2 && pos <= word_len - 2)
            .count()
    }
}

/// Replaces `^^hh` with the character it names.
fn parse_hex(s: &str) -> String {
    if !s.contains("^^") {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("^^") {
        out.push_str(&rest[..i]);
        let hex = rest.get(i + 2..i + 4).filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) => {
                out.push(b as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push_str("^^");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

// ---- language detection ----------------------------------------------------------------

const EN_WORDS: &[&str] = &[
    "the", "and", "is", "are", "was", "were", "you", "your", "to", "of", "in", "it", "that",
    "this", "with", "for", "on", "have", "has", "be", "will", "can", "we", "our", "not", "at",
    "from", "by", "an", "or", "if", "please", "thank", "thanks", "order", "my", "what", "how",
    "when", "would", "could", "should", "there", "their", "they", "he", "she", "i",
];
const ES_WORDS: &[&str] = &[
    "el", "la", "los", "las", "de", "del", "que", "y", "en", "es", "un", "una", "por", "para",
    "con", "su", "sus", "se", "no", "lo", "al", "como", "más", "pero", "muy", "tu", "usted",
    "gracias", "pedido", "está", "están", "hola", "nuestro", "nuestra", "cuando", "donde", "puede",
    "hay", "son", "fue", "le", "les", "ya", "mi", "sí", "o", "este", "esta",
];

/// Detects English or Spanish (the languages the formulas cover) from
/// common function words and Spanish-only characters (ñ, ¿, ¡, accented
/// vowels). Ties go to English. Good enough for a chat reply of a few
/// words; set `evals.readability.language` when you know the language.
pub fn detect_language(text: &str) -> Lang {
    let lower = text.to_lowercase();
    let mut en = 0i64;
    let mut es = 0i64;
    for w in lower.split(|c: char| !is_word(c)).filter(|w| !w.is_empty()) {
        if EN_WORDS.contains(&w) {
            en += 2;
        }
        if ES_WORDS.contains(&w) {
            es += 2;
        }
    }
    es += 3 * lower
        .chars()
        .filter(|c| matches!(c, 'ñ' | '¿' | '¡' | 'á' | 'é' | 'í' | 'ó' | 'ú'))
        .count() as i64;
    if es > en {
        Lang::Es
    } else {
        Lang::En
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyphen_examples() {
        // Values printed by pyphen 0.18.1: len(Pyphen(lang=...).positions(w)) + 1.
        assert_eq!(word_syllables("the", Lang::En), 1);
        assert_eq!(word_syllables("hyphenation", Lang::En), 3);
        assert_eq!(word_syllables("computer", Lang::En), 3);
        assert_eq!(word_syllables("conversación", Lang::Es), 4);
        assert_eq!(word_syllables("gracias", Lang::Es), 2);
    }

    #[test]
    fn legacy_round_is_half_away_from_zero() {
        assert_eq!(legacy_round(2.25, 1), 2.3);
        assert_eq!(legacy_round(-2.25, 1), -2.3);
        assert_eq!(legacy_round(1.04, 1), 1.0);
    }

    #[test]
    fn sentences_follow_textstat() {
        assert_eq!(
            sentence_count("Hello there my friend. How are you today? Fine."),
            2
        );
        assert_eq!(sentence_count(""), 1);
    }

    #[test]
    fn detects_spanish() {
        assert_eq!(detect_language("¿Dónde está mi pedido?"), Lang::Es);
        assert_eq!(detect_language("Where is my order?"), Lang::En);
    }
}

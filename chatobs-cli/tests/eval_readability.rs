//! `chatobs eval readability` reads a text on standard input and prints JSON.

mod common;

fn eval(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut all = vec!["eval", "readability"];
    all.extend_from_slice(args);
    common::chatobs_with_stdin(&all, stdin)
}

#[test]
fn english_scores_match_textstat_figures() {
    // textstat 0.7.3: flesch_reading_ease 91.78, flesch_kincaid_grade 1.7 (10 words, 2 sentences, 13 syllables).
    let (code, out, err) = eval(
        &["--lang", "en"],
        "Hi! Your order has shipped. It should arrive on Friday.",
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["language"], "en");
    assert_eq!(v["detected"], false);
    assert_eq!(v["flesch_reading_ease"], 91.78);
    assert_eq!(v["flesch_kincaid_grade"], 1.7);
    assert_eq!(
        (
            v["words"].as_u64(),
            v["sentences"].as_u64(),
            v["syllables"].as_u64()
        ),
        (Some(10), Some(2), Some(13))
    );
    assert_eq!(v["score"], 91.78);
    assert_eq!(v["label"], "very_easy");
    assert!(v.get("fernandez_huerta").is_none());
}

#[test]
fn spanish_is_detected_and_scored_with_fernandez_huerta() {
    // textstat 0.7.3 (set_lang("es")): fernandez_huerta 87.74, szigriszt_pazos 83.47.
    let (code, out, err) = eval(
        &[],
        "¡Hola! Tu pedido ya fue enviado. Debería llegar el viernes.",
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["language"], "es");
    assert_eq!(v["detected"], true);
    assert_eq!(v["fernandez_huerta"], 87.74);
    assert_eq!(v["szigriszt_pazos"], 83.47);
    assert_eq!(v["score"], 87.74);
}

#[test]
fn empty_input_and_bad_language_are_errors() {
    let (code, _, err) = eval(&[], "   \n");
    assert_ne!(code, 0);
    assert!(err.contains("standard input is empty"), "{err}");
    let (code, _, err) = eval(&["--lang", "fr"], "Bonjour.");
    assert_ne!(code, 0);
    assert!(err.contains("possible values"), "{err}");
}

//! Readability against Python textstat 0.7.3, run live.
//!
//! Needs `python3` with `textstat==0.7.3` (`pip install textstat==0.7.3`,
//! works offline; it pulls pyphen). The test fails, saying so, when it is
//! missing. It prints one line per text (chatobs vs textstat) and the mean
//! absolute difference per formula, which must be at most 3 points.

use chatobs_runtime::evals::readability::{readability, Lang};
use std::io::Write;
use std::process::{Command, Stdio};

const EN: &[&str] = &[
    "Hi! Your order has shipped. It should arrive on Friday.",
    "Thanks for reaching out. I've checked your account and everything looks fine. Is there anything else I can help you with today?",
    "Unfortunately, the promotional discount cannot be combined with other offers, and it expires at midnight on the thirty-first of December.",
    "To reset your password, open the app, tap Settings, then Security, and follow the instructions we sent to your e-mail address.",
    "Our customer service representatives are available Monday through Friday, from 9 a.m. to 6 p.m., excluding public holidays.",
    "The refund was processed. You'll see it in 3 to 5 business days. Contact your bank if it takes longer.",
    "We apologize for the inconvenience caused by the delayed delivery. As compensation, we have applied a credit of 10 dollars to your account.",
    "Yes, we ship internationally. Shipping costs depend on the destination country and the weight of the package.",
    "The subscription automatically renews every month unless you cancel it at least twenty-four hours before the renewal date.",
    "Great choice! The blue sneakers come in sizes 6 to 12. Which size would you like?",
    "Notwithstanding the aforementioned considerations, comprehensive documentation regarding the organizational restructuring is available upon request.",
    "I can't find that order. Could you send me the order number? It starts with two letters and has eight digits.",
];

const ES: &[&str] = &[
    "¡Hola! Tu pedido ya fue enviado. Debería llegar el viernes.",
    "Gracias por escribirnos. Revisé tu cuenta y todo está en orden. ¿Hay algo más en lo que pueda ayudarte hoy?",
    "Lamentablemente, el descuento promocional no se puede combinar con otras ofertas y vence a la medianoche del treinta y uno de diciembre.",
    "Para restablecer tu contraseña, abre la aplicación, toca Configuración, luego Seguridad, y sigue las instrucciones que enviamos a tu correo.",
    "Nuestros asesores de servicio al cliente están disponibles de lunes a viernes, de nueve de la mañana a seis de la tarde.",
    "El reembolso fue procesado. Lo verás en tu cuenta en un plazo de tres a cinco días hábiles.",
    "Te pedimos disculpas por el retraso en la entrega. Como compensación, aplicamos un crédito de diez mil pesos a tu cuenta.",
    "Sí, hacemos envíos a todo el país. El costo depende de la ciudad de destino y del peso del paquete.",
    "La suscripción se renueva automáticamente cada mes, a menos que la canceles al menos veinticuatro horas antes de la fecha de renovación.",
    "¡Excelente elección! Los tenis azules vienen en tallas de la 36 a la 43. ¿Qué talla prefieres?",
    "No obstante las consideraciones anteriormente mencionadas, la documentación exhaustiva relativa a la reestructuración organizacional está disponible bajo solicitud.",
    "No encuentro ese pedido. ¿Me puedes enviar el número de la orden? Empieza con dos letras y tiene ocho dígitos.",
];

fn textstat(items: &[(Lang, &str)]) -> Vec<serde_json::Value> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support_evals/textstat_figures.py"
    );
    let input = serde_json::Value::Array(
        items
            .iter()
            .map(|(l, t)| serde_json::json!({"lang": l.as_str(), "text": t}))
            .collect(),
    );
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed to compare with textstat (pip install textstat==0.7.3)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "textstat_figures.py failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
}

struct Diff {
    name: &'static str,
    total: f64,
    max: f64,
    n: usize,
}

impl Diff {
    fn new(name: &'static str) -> Diff {
        Diff {
            name,
            total: 0.0,
            max: 0.0,
            n: 0,
        }
    }
    fn add(&mut self, ours: f64, theirs: f64) {
        let d = (ours - theirs).abs();
        self.total += d;
        self.max = self.max.max(d);
        self.n += 1;
    }
    fn mean(&self) -> f64 {
        self.total / self.n as f64
    }
}

#[test]
fn readability_agrees_with_textstat_0_7_3() {
    let items: Vec<(Lang, &str)> = EN
        .iter()
        .map(|t| (Lang::En, *t))
        .chain(ES.iter().map(|t| (Lang::Es, *t)))
        .collect();
    assert!(EN.len() >= 10 && ES.len() >= 10);
    let theirs = textstat(&items);
    assert_eq!(theirs.len(), items.len());

    let mut fre_en = Diff::new("en flesch_reading_ease");
    let mut fkg_en = Diff::new("en flesch_kincaid_grade");
    let mut fre_es = Diff::new("es flesch_reading_ease");
    let mut fh_es = Diff::new("es fernandez_huerta");
    let mut sp_es = Diff::new("es szigriszt_pazos");
    let mut same_counts = 0;
    for ((lang, text), t) in items.iter().zip(&theirs) {
        let ours = readability(text, Some(*lang));
        let f = |k: &str| t[k].as_f64().unwrap();
        let counts = (ours.words, ours.sentences, ours.syllables)
            == (
                f("words") as usize,
                f("sentences") as usize,
                f("syllables") as usize,
            );
        same_counts += counts as usize;
        match lang {
            Lang::En => {
                fre_en.add(ours.flesch_reading_ease, f("flesch_reading_ease"));
                fkg_en.add(
                    ours.flesch_kincaid_grade.unwrap(),
                    f("flesch_kincaid_grade"),
                );
                println!(
                    "en FRE {:7.2} vs {:7.2}  FKG {:5.1} vs {:5.1}  w/s/syl {}/{}/{} vs {}/{}/{}  {}",
                    ours.flesch_reading_ease,
                    f("flesch_reading_ease"),
                    ours.flesch_kincaid_grade.unwrap(),
                    f("flesch_kincaid_grade"),
                    ours.words,
                    ours.sentences,
                    ours.syllables,
                    f("words"),
                    f("sentences"),
                    f("syllables"),
                    &text[..text.len().min(40)]
                );
            }
            Lang::Es => {
                fre_es.add(ours.flesch_reading_ease, f("flesch_reading_ease"));
                fh_es.add(ours.fernandez_huerta.unwrap(), f("fernandez_huerta"));
                sp_es.add(ours.szigriszt_pazos.unwrap(), f("szigriszt_pazos"));
                println!(
                    "es FH {:7.2} vs {:7.2}  SP {:7.2} vs {:7.2}  w/s/syl {}/{}/{} vs {}/{}/{}",
                    ours.fernandez_huerta.unwrap(),
                    f("fernandez_huerta"),
                    ours.szigriszt_pazos.unwrap(),
                    f("szigriszt_pazos"),
                    ours.words,
                    ours.sentences,
                    ours.syllables,
                    f("words"),
                    f("sentences"),
                    f("syllables"),
                );
            }
        }
    }
    println!(
        "identical word/sentence/syllable counts: {same_counts}/{}",
        items.len()
    );
    for d in [&fre_en, &fkg_en, &fre_es, &fh_es, &sp_es] {
        println!(
            "{}: mean |diff| {:.3}, max {:.3} over {} texts",
            d.name,
            d.mean(),
            d.max,
            d.n
        );
        assert!(
            d.mean() <= 3.0,
            "{}: mean difference {:.3} > 3",
            d.name,
            d.mean()
        );
    }
}

#[test]
fn detection_picks_the_language_of_each_sample() {
    for t in EN {
        assert_eq!(readability(t, None).language, Lang::En, "{t}");
    }
    for t in ES {
        assert_eq!(readability(t, None).language, Lang::Es, "{t}");
    }
}

"""Prints textstat 0.7.3's readability figures for the texts read on stdin.

Input: a JSON list of {"lang": "en"|"es", "text": "..."}.
Output: a JSON list of figures, in the same order. Exits 3 when textstat is
missing or is not version 0.7.3 (later versions download a dictionary at
run time and fail offline).
"""
import json
import sys

try:
    import textstat
    from importlib.metadata import version
    v = version("textstat")
except Exception as e:  # noqa: BLE001
    print(f"textstat is not installed: pip install textstat==0.7.3 ({e})", file=sys.stderr)
    sys.exit(3)
if v != "0.7.3":
    print(f"textstat {v} is installed; the comparison needs textstat==0.7.3", file=sys.stderr)
    sys.exit(3)

out = []
for item in json.load(sys.stdin):
    t = item["text"]
    if item["lang"] == "es":
        textstat.set_lang("es")
        out.append({
            "words": textstat.lexicon_count(t),
            "sentences": textstat.sentence_count(t),
            "syllables": textstat.syllable_count(t),
            "flesch_reading_ease": textstat.flesch_reading_ease(t),
            "fernandez_huerta": textstat.fernandez_huerta(t),
            "szigriszt_pazos": textstat.szigriszt_pazos(t),
        })
    else:
        textstat.set_lang("en_US")
        out.append({
            "words": textstat.lexicon_count(t),
            "sentences": textstat.sentence_count(t),
            "syllables": textstat.syllable_count(t),
            "flesch_reading_ease": textstat.flesch_reading_ease(t),
            "flesch_kincaid_grade": textstat.flesch_kincaid_grade(t),
        })
json.dump(out, sys.stdout)

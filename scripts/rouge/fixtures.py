"""Writes porter-nltk.tsv (word, NLTK stem) and rouge-sni.json (prediction, reference, rouge-score's
ROUGE-L F-measure, SNI's exact match) into the folder given, from the reference implementations.

The exact-match normalisation below restates natural-instructions' eval/automatic/evaluation.py
(`normalize_answer`: lower, drop string.punctuation, collapse whitespace; articles kept)."""
import glob, json, random, re, string, sys
from nltk.stem import porter
from rouge_score import rouge_scorer

out = sys.argv[1]
rng = random.Random(20261203)

def debian_text():
    parts = []
    for path in sorted(glob.glob("/usr/share/doc/*/copyright")):
        try:
            with open(path, encoding="utf-8") as f:
                parts.append(f.read())
        except (UnicodeDecodeError, OSError):
            pass
    return "\n".join(parts)

text = debian_text()

# Porter: every distinct lower-case word of the text (capped, sampled deterministically) and the
# classic examples of Porter's paper and NLTK's special cases.
edge = """caresses ponies ties caress cats feed agreed plastered bled motoring sing conflated
troubled sized hopping tanned falling hissing fizzed failing filing happy sky skies dying lying
tying news innings inning outings outing cannings canning howe proceed exceed succeed relational
conditional rational valenci hesitanci digitizer conformabli radicalli differentli vileli
analogousli vietnamization predication operator feudalism decisiveness hopefulness callousness
formaliti sensitiviti sensibiliti triplicate formative formalize electriciti electrical hopeful
goodness revival allowance inference airliner gyroscopic adjustable defensible irritant
replacement adjustment dependent adoption homologou communism activate angulariti homologous
effective bowdlerize probate rate cease controll roll generalli fulli logi analogi tried ties
cries dies lies spied eyeing syzygy yyyy ayyy boyish enjoying saying played 1990s 4th x11
fully hopefully archaeology theology apology by my yo eed bleed speed agreed seeded ied""".split()
words = sorted(set(re.findall(r"[a-z0-9]+", text.lower())))
words = [w for w in words if len(w) > 3]
rng.shuffle(words)
words = sorted(set(words[:6000]) | set(edge))
stemmer = porter.PorterStemmer()
with open(f"{out}/porter-nltk.tsv", "w") as f:
    for w in words:
        f.write(f"{w}\t{stemmer.stem(w)}\n")

# ROUGE-L and exact match on sentence pairs: real lines against perturbed copies of themselves
# (dropped, swapped and re-inflected words, case and punctuation changes), against other lines,
# and hand-picked edge cases (empty, punctuation only, non-ASCII, numbers).
scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)

def normalize_answer(s):
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    return " ".join(s.split())

lines = [l.strip() for l in text.splitlines() if 20 <= len(l.strip()) <= 160]
lines = sorted(set(lines))
rng.shuffle(lines)
lines = lines[:400]

def perturb(line):
    ws = line.split()
    kind = rng.randrange(5)
    if kind == 0 and len(ws) > 2:
        del ws[rng.randrange(len(ws))]
    elif kind == 1 and len(ws) > 2:
        i = rng.randrange(len(ws) - 1)
        ws[i], ws[i + 1] = ws[i + 1], ws[i]
    elif kind == 2:
        ws = [w + rng.choice(["s", "ing", "ed", "ly"]) if rng.random() < 0.3 else w for w in ws]
    elif kind == 3:
        return line.upper().replace(",", " ;")
    else:
        ws = ws[: max(1, len(ws) // 2)]
    return " ".join(ws)

pairs = []
for i, line in enumerate(lines):
    pairs.append((perturb(line), line))
    pairs.append((line, lines[(i + 7) % len(lines)]))
pairs += [
    ("", "a reference"), ("a prediction", ""), ("", ""), ("!!!", "..."), ("The cat.", "the CAT"),
    ("the  cat\tsat", "The cat sat!"), ("Ünïcödé naïve café", "unicode naive cafe"), ("İstanbul", "istanbul"),
    ("1990s 4th x11", "the 1990s, the 4th"), ("running runs ran", "run"), ("caresses ponies", "caress pony"),
    ("a a a a", "a"), ("an apple", "apple"), ("Genesis 1", "genesis 1"), ("ΣΊΣΥΦΟΣ", "σίσυφος"),
    ("state-of-the-art", "state of the art"), ("it's", "its"), ("x\u00a0y", "x y"), ("x\u2028y", "x y"),
    ("x\x1cy", "x y"), ("e\u0301", "\u00e9"), ("don’t", "don't"), ("ΌΣΟΣ ΣΑ", "όσος σα"), ("AΣ.", "aς."),
    ("Σ", "σ"), ("A\u0345Σ", "a\u0345ς"),
]
records = []
for prediction, reference in pairs:
    records.append({
        "prediction": prediction,
        "reference": reference,
        "rougeL": scorer.score(reference, prediction)["rougeL"].fmeasure,
        "exactMatch": normalize_answer(prediction) == normalize_answer(reference),
    })
with open(f"{out}/rouge-sni.json", "w") as f:
    json.dump(records, f, indent=0, ensure_ascii=False)
    f.write("\n")
print(f"wrote {len(words)} stems and {len(records)} pairs to {out}")

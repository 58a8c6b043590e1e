"""A small trigram language model in ARPA format, for PocketSphinx.

PocketSphinx's stock English model is trained on general text; on telephone audio
it turns "stop calling me" into "oh come on the". Debtors say a narrow set of things
(who they are, dates of birth, amounts, dates, refusals, hardship), so the decoder
gets a domain model built from the team's own utterances (data/) plus spoken forms
of dates and amounts. Absolute discounting with back-off; words the pronunciation
dictionary lacks are dropped, since the decoder could never emit them.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable

BOS, EOS = "<s>", "</s>"
DISCOUNT = 0.5
# Probability mass (before normalising) for dictionary words seen nowhere in the corpus,
# so a stray common word is still possible.
UNSEEN_UNIGRAM = 0.05


Ngram = tuple[str, ...]


def build_arpa(sentences: Iterable[list[str]], vocabulary: Iterable[str] = ()) -> str:
    counts: list[Counter[Ngram]] = [Counter(), Counter(), Counter()]
    for words in sentences:
        if not words:
            continue
        padded = (BOS, *words, EOS)
        for order in range(3):
            for i in range(len(padded) - order):
                counts[order][padded[i : i + order + 1]] += 1
    unigrams = {ngram[0]: count for ngram, count in counts[0].items()}
    extra = sorted(set(vocabulary) - set(unigrams))
    total = sum(c for w, c in unigrams.items() if w != BOS)
    seen_mass = 1.0 - (UNSEEN_UNIGRAM if extra else 0.0)
    uni_p = {w: seen_mass * c / total if w != BOS else 0.0 for w, c in unigrams.items()}
    uni_p.update({w: UNSEEN_UNIGRAM / len(extra) for w in extra})

    def unigram(ngram: Ngram) -> float:
        return uni_p[ngram[-1]]

    bi_p, bi_backoff = _discounted(counts[1], counts[0], unigram)

    def bigram(ngram: Ngram) -> float:
        tail = ngram[-2:]
        return bi_p.get(tail) or bi_backoff.get(tail[:1], 1.0) * uni_p[tail[-1]]

    tri_p, tri_backoff = _discounted(counts[2], counts[1], bigram)
    sizes = [f"ngram {n}={len(table)}" for n, table in ((1, uni_p), (2, bi_p), (3, tri_p))]
    lines = ["\\data\\", *sizes, "", "\\1-grams:"]
    for word in sorted(uni_p):
        prob = -99.0 if word == BOS else math.log10(uni_p[word])
        lines.append(f"{prob:.4f} {word} {math.log10(bi_backoff.get((word,), 1.0)):.4f}")
    lines += ["", "\\2-grams:"]
    for ngram in sorted(bi_p):
        backoff = math.log10(tri_backoff.get(ngram, 1.0))
        lines.append(f"{math.log10(bi_p[ngram]):.4f} {' '.join(ngram)} {backoff:.4f}")
    lines += ["", "\\3-grams:"]
    lines += [f"{math.log10(tri_p[n]):.4f} {' '.join(n)}" for n in sorted(tri_p)]
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def _discounted(
    counts: Counter[Ngram], history_counts: Counter[Ngram], lower: Callable[[Ngram], float]
) -> tuple[dict[Ngram, float], dict[Ngram, float]]:
    """P(w | h) = (c(h w) - D) / c(h); the freed mass goes to the lower order, scaled by
    each history's back-off weight so every distribution sums to one."""
    probs: dict[Ngram, float] = {}
    followers: dict[Ngram, list[Ngram]] = defaultdict(list)
    for ngram, count in counts.items():
        probs[ngram] = (count - DISCOUNT) / history_counts[ngram[:-1]]
        followers[ngram[:-1]].append(ngram)
    backoff: dict[Ngram, float] = {}
    for history, ngrams in followers.items():
        left = 1.0 - sum(probs[n] for n in ngrams)
        lower_left = 1.0 - sum(lower(n) for n in ngrams)
        backoff[history] = left / lower_left if lower_left > 1e-9 else 1.0
    return probs, backoff

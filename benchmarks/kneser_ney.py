"""The count-based baseline the language models must beat: an interpolated modified Kneser-Ney trigram model
(Chen & Goodman, 1998), on exactly the token ids the neural models read and predict.

    python -m benchmarks.language          # trains lstm_lm_imdb and gpt_imdb and scores this baseline beside them

Why our own ~100 lines: the maintained estimator, KenLM's `lmplz`, is a C++ program that `pip install kenlm` does
not build (the Python package only queries ARPA files), and NLTK's `KneserNeyInterpolated` scores one n-gram at a
time in Python (minutes for a few thousand tokens; nltk/nltk#3317) and gives `<s>` zero probability (nltk#3065).
Here the counts are numpy arrays of packed trigram keys, so training and scoring a few million tokens take seconds.

The model: every sequence is preceded by two `<s>`; order 3 discounts raw counts, orders 2 and 1 discount
continuation counts (how many distinct words precede an n-gram); each order has three discounts D1, D2, D3+ from
its counts-of-counts (Y = n1 / (n1 + 2 n2), Dk = k - (k + 1) Y n(k+1) / nk; Y for all three where those fall
outside 0 < Dk <= k, as on a tiny corpus), and gives the discounted mass to the
next lower order; the unigram gives its share to the uniform distribution over the `outcomes` predictable ids.
An unseen context passes all its mass down. `prob(u, v, w)` sums to 1 over the outcomes for every context, which
tests/test_language.py checks.
"""

from __future__ import annotations

import numpy as np


def _discounts(counts: np.ndarray) -> np.ndarray:
    """[0, D1, D2, D3+] from the counts of one order (modified Kneser-Ney)."""
    n = [int(np.sum(counts == k)) for k in (1, 2, 3, 4)]
    y = n[0] / (n[0] + 2 * n[1]) if n[0] + n[1] else 0.5
    if min(n) > 0:
        d = [k - (k + 1) * y * n[k] / n[k - 1] for k in (1, 2, 3)]
        if all(0 < dk <= k for dk, k in zip(d, (1, 2, 3))):
            return np.array([0.0, *d])
    return np.array([0.0, y, y, y])  # too little data for its counts-of-counts: one absolute discount


class _Level:
    """One order's table: sorted keys of (context, word) with their (raw or continuation) counts, and per context
    its total and its backoff weight's numerator."""

    def __init__(self, keys: np.ndarray, counts: np.ndarray, vocab: int):
        self.vocab, self.keys, self.counts = vocab, keys, counts
        self.d = _discounts(counts)
        contexts = keys // vocab
        self.contexts, first = np.unique(contexts, return_index=True)
        self.totals = np.add.reduceat(counts, first).astype(np.float64)
        self.mass = np.add.reduceat(self.d[np.minimum(counts, 3)], first)

    def lookup(self, context: np.ndarray, word: np.ndarray):
        """(discounted count / total, backoff weight, whether the context was seen) per query."""
        key = context * self.vocab + word
        at = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
        c = np.where(self.keys[at] == key, self.counts[at], 0)
        ci = np.minimum(np.searchsorted(self.contexts, context), len(self.contexts) - 1)
        seen = self.contexts[ci] == context
        total = np.where(seen, self.totals[ci], 1.0)
        own = np.maximum(c - self.d[np.minimum(c, 3)], 0) / total
        return np.where(seen, own, 0.0), np.where(seen, self.mass[ci] / total, 1.0), seen


class KneserNeyTrigram:
    """Fit on token-id sequences (padding 0 dropped); `prob(u, v, w)` and `perplexity(sequences)`."""

    def __init__(self, sequences, vocab: int, start: int, outcomes: int):
        self.vocab, self.start, self.outcomes = vocab, start, outcomes
        u, v, w = self.trigrams(sequences)
        keys, counts = np.unique((u * vocab + v) * vocab + w, return_counts=True)
        self.tri = _Level(keys, counts, vocab)
        vw = np.unique(keys % (vocab * vocab), return_counts=True)  # N1+(. v w): distinct u before each (v, w)
        self.bi = _Level(vw[0], vw[1], vocab)
        uw = np.unique(vw[0] % vocab, return_counts=True)  # N1+(. w): distinct v before each w
        self.uni = _Level(uw[0], uw[1], vocab)

    def trigrams(self, sequences):
        """(u, v, w) int64 arrays of every real token with the two before it (`start` before the first)."""
        rows = np.asarray(sequences, np.int64)
        padded = np.concatenate([np.full((len(rows), 2), self.start, np.int64), rows], axis=1)
        keep = rows != 0
        return padded[:, :-2][keep], padded[:, 1:-1][keep], padded[:, 2:][keep]

    def prob(self, u, v, w) -> np.ndarray:
        u, v, w = (np.asarray(a, np.int64) for a in (u, v, w))
        own1, back1, _ = self.uni.lookup(np.zeros_like(w), w)
        p = own1 + back1 / self.outcomes
        own2, back2, _ = self.bi.lookup(v, w)
        p = own2 + back2 * p
        own3, back3, _ = self.tri.lookup(u * self.vocab + v, w)
        return own3 + back3 * p

    def perplexity(self, sequences) -> tuple[float, int]:
        """(e to the mean negative log-probability of every real token, how many tokens)."""
        u, v, w = self.trigrams(sequences)
        logp = np.log(self.prob(u, v, w))
        return float(np.exp(-logp.mean())), int(len(w))

#!/usr/bin/env python3
"""Reference numbers for dev.fuselm.baseline.NgramModel (interpolated Kneser-Ney and add-k).

Run:
  PY=$(benchmarks/parity/ngram_venv.sh /tmp/ngram-venv)     # nltk 3.10.3 from the local wheel index
  $PY benchmarks/parity/ngram_reference.py > src/test/resources/ngram/reference.json

The corpus: the UTF-8 bytes of the bundled TinyShakespeare text as token ids (vocabulary 256),
bytes [0, 3000) to train on and [3000, 3600) to score; no tokenizer is needed on either side.

Two implementations live here, both naive (tuples in dicts, counts recomputed by scanning):

* `Textbook`: what fuselm implements (see the NgramModel javadoc): Chen and Goodman's interpolated
  Kneser-Ney with continuation counts for the lower orders, the unigram level interpolated with
  the uniform 1/V, one discount per order (given, or n1 / (n1 + 2 n2)); add-k (Lidstone) over the
  longest context. Its numbers go into the fixture the Java test compares against.
* `Textbook(nltk_mode=True)`: the same code with NLTK 3.10's two departures switched on: the lowest
  order is the undiscounted continuation unigram N1+(. w) / N1+(. .) with no uniform term, and the
  lower orders' interpolation weight counts the distinct followers of h in the raw counts. The
  script asserts that this mode equals `nltk.lm.KneserNeyInterpolated` (and the add-k numbers equal
  `nltk.lm.Lidstone`) on every score it asks for, to 1e-12, so the only differences between fuselm
  and NLTK are those two, written down. The fixture records the size of that check.

Scoring a stream: token i (i >= 1) given the up to N-1 tokens before it (shorter at the start,
using that lower order's Kneser-Ney distribution); the first token is not scored. Perplexity is
exp(mean negative log-likelihood in nats).
"""
import json
import math
import os
import sys
from collections import defaultdict

import nltk
from nltk.lm import KneserNeyInterpolated, Lidstone
from nltk.util import everygrams

HERE = os.path.dirname(os.path.abspath(__file__))
TEXT = os.path.join(HERE, "..", "..", "src", "main", "resources", "dev", "fuselm", "demo",
                    "tinyshakespeare.txt")
V = 256
TOL = 1e-12


class Textbook:
    def __init__(self, order, train, smoothing, discount=None, k=None, nltk_mode=False):
        self.n, self.smoothing, self.k, self.nltk_mode = order, smoothing, k, nltk_mode
        # raw[k][g]: count of the k-gram g (a tuple); every window of the stream
        self.raw = [defaultdict(int) for _ in range(order + 1)]
        for kk in range(1, order + 1):
            for i in range(len(train) - kk + 1):
                self.raw[kk][tuple(train[i:i + kk])] += 1
        # cont[k][g] = N1+(. g): distinct tokens seen just before g (k < order)
        self.cont = [defaultdict(int) for _ in range(order + 1)]
        for kk in range(1, order):
            for g in self.raw[kk + 1]:
                self.cont[kk][g[1:]] += 1
        # followers[k][h] = {w: count of h w} over raw (k == order) or continuation counts
        self.followers = [defaultdict(dict) for _ in range(order + 1)]
        self.raw_followers = [defaultdict(dict) for _ in range(order + 1)]
        for kk in range(1, order + 1):
            table = self.raw[kk] if kk == order else self.cont[kk]
            for g, c in table.items():
                if c > 0:
                    self.followers[kk][g[:-1]][g[-1]] = c
            for g, c in self.raw[kk].items():
                self.raw_followers[kk][g[:-1]][g[-1]] = c
        self.discounts = [None] * (order + 1)
        for kk in range(1, order + 1):
            if discount is not None:
                self.discounts[kk] = discount
            else:
                table = self.raw[kk] if kk == order else self.cont[kk]
                n1 = sum(1 for c in table.values() if c == 1)
                n2 = sum(1 for c in table.values() if c == 2)
                self.discounts[kk] = n1 / (n1 + 2 * n2) if n1 > 0 and n2 > 0 else 0.75

    def prob(self, w, ctx):
        ctx = tuple(ctx[len(ctx) - min(len(ctx), self.n - 1):])
        if self.smoothing == "addk":
            f = self.raw_followers[len(ctx) + 1].get(ctx, {})
            return (f.get(w, 0) + self.k) / (sum(f.values()) + self.k * V)
        if self.nltk_mode:
            return self._nltk_kn(w, ctx)
        p = 1.0 / V
        for j in range(len(ctx) + 1):
            h = ctx[len(ctx) - j:]
            f = self.followers[j + 1].get(h, {})
            total = sum(f.values())
            if total == 0:
                continue
            d = self.discounts[j + 1]
            p = max(f.get(w, 0) - d, 0) / total + d * len(f) / total * p
        return p

    def _nltk_kn(self, w, ctx):
        if not ctx:
            f = self.followers[1][()]
            return f.get(w, 0) / sum(f.values())
        raw_f = self.raw_followers[len(ctx) + 1].get(ctx, {})
        if not raw_f:
            return self._nltk_kn(w, ctx[1:])
        f = self.followers[len(ctx) + 1].get(ctx, {})
        total = sum(f.values())
        d = self.discounts[len(ctx) + 1]
        alpha = max(f.get(w, 0) - d, 0.0) / total
        gamma = d * len(raw_f) / total
        return alpha + gamma * self._nltk_kn(w, ctx[1:])

    def perplexity(self, stream):
        nll = 0.0
        for i in range(1, len(stream)):
            nll -= math.log(self.prob(stream[i], stream[max(0, i - self.n + 1):i]))
        return math.exp(nll / (len(stream) - 1)), len(stream) - 1


def probes(train, ev):
    """(context, word) pairs: contexts from the scored text, the empty one, an unseen one; words
    seen often, rarely, never (200 never occurs in ASCII text)."""
    ctxs = [[], ev[0:1], ev[10:13], ev[100:103], ev[250:253], train[5:8], [200, 201, 202],
            [ord('e'), 200], [ord(' '), ord('t'), ord('h')]]
    words = [ord('e'), ord(' '), ord('q'), ord('\n'), ord('Z'), 200]
    return [(c, w) for c in ctxs for w in words]


def nltk_check(train, ev):
    """Compares the nltk_mode reference with NLTK itself; returns how many scores were compared."""
    s = lambda ids: tuple(str(i) for i in ids)
    compared = 0
    for order in (2, 3, 4):
        for d in (0.75, 0.1):
            ref = Textbook(order, train, "kn", discount=d, nltk_mode=True)
            lm = KneserNeyInterpolated(order, discount=d)
            lm.fit([list(everygrams(s(train), max_len=order))], vocabulary_text=s(range(V)))
            pairs = [(ev[max(0, i - order + 1):i], ev[i]) for i in range(1, 200)]
            pairs += probes(train, ev)
            for ctx, w in pairs:
                a = ref.prob(w, tuple(ctx))
                b = lm.score(str(w), s(ctx[len(ctx) - min(len(ctx), order - 1):]))
                assert abs(a - b) <= TOL, (order, d, ctx, w, a, b)
                compared += 1
    for order, k in ((1, 1.0), (2, 0.5), (3, 0.01)):
        ref = Textbook(order, train, "addk", k=k)
        # NLTK's vocabulary always holds <UNK> besides the words: give it V - 1 ids so len(vocab)
        # is V (id 255 never occurs in the ASCII text)
        lm = Lidstone(k, order)
        lm.fit([list(everygrams(s(train), max_len=order))], vocabulary_text=s(range(V - 1)))
        assert len(lm.vocab) == V
        for i in range(1, 200):
            ctx, w = ev[max(0, i - order + 1):i], ev[i]
            a, b = ref.prob(w, tuple(ctx)), lm.score(str(w), s(ctx) if ctx else None)
            assert abs(a - b) <= TOL, (order, k, ctx, w, a, b)
            compared += 1
        ppl_ref, _ = ref.perplexity(ev)
        ppl_nltk = lm.perplexity([tuple(s(ev[max(0, i - order + 1):i + 1])) for i in range(1, len(ev))])
        assert abs(ppl_ref - ppl_nltk) <= 1e-9 * ppl_ref, (order, k, ppl_ref, ppl_nltk)
        compared += 1
    return compared


def main():
    data = open(TEXT, "rb").read()
    train, ev = list(data[0:3000]), list(data[3000:3600])
    assert all(b < 128 for b in data[:3600])
    compared = nltk_check(train, ev)
    cases = []
    for smoothing, order, discount, k in [("kn", 1, 0.75, None), ("kn", 2, 0.75, None),
                                          ("kn", 3, 0.75, None), ("kn", 4, 0.75, None),
                                          ("kn", 3, 0.1, None), ("kn", 3, None, None),
                                          ("kn", 5, None, None),
                                          ("addk", 1, None, 1.0), ("addk", 3, None, 0.01),
                                          ("addk", 4, None, 0.5)]:
        m = Textbook(order, train, smoothing, discount=discount, k=k)
        ppl, scored = m.perplexity(ev)
        cases.append({
            "smoothing": smoothing, "order": order, "discount": discount, "k": k,
            "discounts": m.discounts[1:] if smoothing == "kn" else [],
            "scored_tokens": scored, "perplexity": ppl,
            "probabilities": [{"context": c, "word": w, "p": m.prob(w, tuple(c))}
                              for c, w in probes(train, ev)],
        })
    out = {
        "generator": "benchmarks/parity/ngram_reference.py",
        "nltk_version": nltk.__version__,
        "nltk_scores_matched": compared,
        "corpus": "bytes of tinyshakespeare.txt: train [0, 3000), eval [3000, 3600)",
        "vocab_size": V, "train": train, "eval": ev, "cases": cases,
    }
    # one top-level field, and one case, per line: small diffs when the numbers move
    lines = []
    for key, value in out.items():
        if key == "cases":
            body = ",\n".join("  " + json.dumps(c, separators=(",", ":")) for c in value)
            lines.append(json.dumps(key) + ": [\n" + body + "\n ]")
        else:
            lines.append(json.dumps(key) + ": " + json.dumps(value, separators=(",", ":")))
    sys.stdout.write("{\n " + ",\n ".join(lines) + "\n}\n")


if __name__ == "__main__":
    main()

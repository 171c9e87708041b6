#!/usr/bin/env python3
"""Builds the NER corpus of the README's "Named-entity recognition" section (stdlib only).

Source: Apache OpenNLP's test jar on Maven Central, org.apache.opennlp:opennlp-tools:2.5.4:tests
(Apache License 2.0), file opennlp/tools/namefind/RandomNewsWithGeneratedDates_EN.train: 10,000
English news sentences made by OpenNLP's RandomEnglishNewsGenerator, with dates marked inline as
`<START:date> ... <END>`.

Procedure (deterministic): each line is split into words as BERT's basic tokenizer splits
(whitespace; every punctuation character a word of its own: fuselm's NerEncoding.words does the
same), the marked words get B-DATE / I-DATE and the rest O; duplicate sentences (same words and
tags) are kept once; the unique sentences are shuffled with random.Random(123) and cut 80/10/10
into train.conll, val.conll, test.conll (two columns: word TAB tag; blank line between sentences).

usage: opennlp_dates.py SOURCE_FILE OUT_DIR
"""
import os
import random
import re
import sys
import unicodedata


def is_punct(ch):
    c = ord(ch)
    if 33 <= c <= 47 or 58 <= c <= 64 or 91 <= c <= 96 or 123 <= c <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def words(text):
    out, cur = [], []
    for ch in text:
        if ch.isspace():
            if cur:
                out.append("".join(cur))
                cur = []
        elif is_punct(ch):
            if cur:
                out.append("".join(cur))
                cur = []
            out.append(ch)
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


MARK = re.compile(r"<START:([A-Za-z]+)>(.*?)<END>")


def convert(line):
    ws, tags, pos = [], [], 0
    for m in MARK.finditer(line):
        for w in words(line[pos:m.start()]):
            ws.append(w)
            tags.append("O")
        inside = words(m.group(2))
        for i, w in enumerate(inside):
            ws.append(w)
            tags.append(("B-" if i == 0 else "I-") + m.group(1).upper())
        pos = m.end()
    for w in words(line[pos:]):
        ws.append(w)
        tags.append("O")
    if "<START" in line[pos:] or "<END>" in line[pos:]:
        raise SystemExit("unbalanced mark: " + line)
    return ws, tags


def main():
    src, out = sys.argv[1], sys.argv[2]
    seen, sents = set(), []
    with open(src, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            ws, tags = convert(line)
            key = (tuple(ws), tuple(tags))
            if ws and key not in seen:
                seen.add(key)
                sents.append((ws, tags))
    random.Random(123).shuffle(sents)
    n = len(sents)
    n_val, n_test = n // 10, n // 10
    parts = {"val.conll": sents[:n_val], "test.conll": sents[n_val:n_val + n_test],
             "train.conll": sents[n_val + n_test:]}
    os.makedirs(out, exist_ok=True)
    for name, part in parts.items():
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            for ws, tags in part:
                for w, t in zip(ws, tags):
                    f.write(w + "\t" + t + "\n")
                f.write("\n")
        ents = sum(t.startswith("B-") for _, tags in part for t in tags)
        print(f"{name}: {len(part)} sentences, {sum(len(w) for w, _ in part)} words, {ents} entities")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes src/test/resources/ner/seqeval_cases.json: entity-level precision, recall and F1 that
seqeval (default mode, i.e. conlleval's chunking; chakki-works/seqeval) gives on tricky and on
seeded random tag sequences. NerTagsTest checks fuselm's NerTags against every case.

  SEQEVAL_SRC=/path/to/seqeval-checkout PY=$(benchmarks/ner/seqeval_venv.sh DIR)
  PYTHONPATH=$SEQEVAL_SRC $PY benchmarks/ner/seqeval_fixtures.py src/test/resources/ner/seqeval_cases.json
"""
import json
import random
import sys
import warnings

warnings.filterwarnings("ignore")
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score  # noqa
from seqeval.metrics.sequence_labeling import get_entities  # noqa

TRICKY = [
    ("I- without B-", [["O", "I-PER", "I-PER", "O"]], [["O", "B-PER", "I-PER", "O"]]),
    ("I- after O at sentence start", [["I-LOC", "O", "B-LOC"]], [["B-LOC", "O", "I-LOC"]]),
    ("type change inside a chunk", [["B-PER", "I-PER", "I-LOC", "O"]], [["B-PER", "I-PER", "I-PER", "O"]]),
    ("type change B to I", [["B-PER", "I-LOC"]], [["B-PER", "B-LOC"]]),
    ("trailing entity", [["O", "O", "B-ORG", "I-ORG"]], [["O", "O", "B-ORG", "I-ORG"]]),
    ("trailing entity cut short", [["O", "B-ORG", "I-ORG", "I-ORG"]], [["O", "B-ORG", "I-ORG", "O"]]),
    ("B after I same type", [["B-PER", "I-PER", "B-PER"]], [["B-PER", "I-PER", "I-PER"]]),
    ("adjacent single-word entities", [["B-LOC", "B-LOC", "B-LOC"]], [["B-LOC", "I-LOC", "B-LOC"]]),
    ("all O", [["O", "O"]], [["O", "B-MISC"]]),
    ("no gold entities, no predictions", [["O", "O"]], [["O", "O"]]),
    ("IOBES tags", [["S-PER", "O", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]],
     [["B-PER", "O", "B-LOC", "E-LOC", "E-LOC", "S-LOC"]]),
    ("E after O, I after S", [["O", "E-PER", "S-PER", "I-PER"]], [["O", "S-PER", "S-PER", "B-PER"]]),
    ("entity across two sentences is two", [["O", "B-PER"], ["I-PER", "O"]],
     [["O", "B-PER"], ["B-PER", "O"]]),
    ("several sentences, several types",
     [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"], ["O", "B-MISC", "I-MISC", "I-MISC"]],
     [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "O"], ["O", "B-MISC", "I-MISC", "I-MISC"]]),
]


def case(name, y_true, y_pred):
    report = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    per = {k: {"precision": v["precision"], "recall": v["recall"], "f1": v["f1-score"],
               "support": int(v["support"])}
           for k, v in report.items() if "avg" not in k}
    return {"name": name, "true": y_true, "pred": y_pred,
            "precision": precision_score(y_true, y_pred, zero_division=0),
            "recall": recall_score(y_true, y_pred, zero_division=0),
            "f1": f1_score(y_true, y_pred, zero_division=0),
            "entities_true": [[list(e) for e in get_entities(s)] for s in y_true],
            "per_type": per}


def main():
    cases = [case(*t) for t in TRICKY]
    r = random.Random(21)
    tags = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    for i in range(40):
        y_true, y_pred = [], []
        for _ in range(r.randint(1, 4)):
            n = r.randint(1, 12)
            t = [r.choice(tags) for _ in range(n)]
            # predictions: the truth with some tags changed
            p = [x if r.random() < 0.7 else r.choice(tags) for x in t]
            y_true.append(t)
            y_pred.append(p)
        cases.append(case("random %d" % i, y_true, y_pred))
    with open(sys.argv[1], "w") as f:
        json.dump({"source": "seqeval (chakki-works/seqeval), default mode", "cases": cases}, f,
                  indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Hugging Face's side of HfTokenClassifierTest (run with the venv of benchmarks/parity/hf_venv.sh).

  hf_token_classification.py logits DIR IDS_JSON   # loads DIR strictly with
      AutoModelForTokenClassification; prints {"architecture", "id2label", "logits"} as JSON for
      the id rows of IDS_JSON (a JSON list of equal-length lists; token types 0, no padding)
  hf_token_classification.py make DIR              # saves a small random BertForTokenClassification
      (vocab 99, hidden 32, 2 layers, labels O B-PER I-PER B-LOC I-LOC) with save_pretrained
"""
import json
import sys

import torch
from transformers import AutoModelForTokenClassification, BertConfig, BertForTokenClassification


def logits(model_dir, ids_json):
    model, info = AutoModelForTokenClassification.from_pretrained(model_dir,
                                                                  output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    if bad:
        raise SystemExit("loading %s: %s" % (model_dir, bad))
    model.eval()
    ids = torch.tensor(json.loads(ids_json))
    with torch.no_grad():
        out = model(input_ids=ids).logits
    print(json.dumps({"architecture": type(model).__name__,
                      "id2label": {str(k): v for k, v in model.config.id2label.items()},
                      "logits": out.reshape(-1).tolist()}))


def make(model_dir):
    torch.manual_seed(5)
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    cfg = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=37, max_position_embeddings=64,
                     id2label=dict(enumerate(labels)),
                     label2id={l: i for i, l in enumerate(labels)})
    model = BertForTokenClassification(cfg)
    with torch.no_grad():
        model.classifier.weight.normal_(0, 1.0)
        model.classifier.bias.normal_(0, 0.5)
    model.save_pretrained(model_dir)


if __name__ == "__main__":
    if sys.argv[1] == "logits":
        logits(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        raise SystemExit(__doc__)

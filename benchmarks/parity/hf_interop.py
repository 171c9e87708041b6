#!/usr/bin/env python3
"""Hugging Face interop for fuselm, checked against the real `transformers` (5.18.0, CPU, fp32).

Needs a python with transformers, torch and safetensors; benchmarks/parity/hf_venv.sh makes one from
the local wheel index and prints its path:

  PY=$(benchmarks/parity/hf_venv.sh ~/.cache/fuselm/hf-venv)

Subcommands
  $PY benchmarks/parity/hf_interop.py make-fixtures [OUT]
      With a fixed seed, builds tiny random models with the real transformers classes and writes them
      with save_pretrained(safe_serialization=True) into OUT (default src/test/resources/hf), one
      directory per model exactly as Hugging Face wrote it, plus NAME.expected.safetensors beside it
      holding the inputs and what Hugging Face computes for them:
        gpt2-lmhead   GPT2LMHeadModel, tied head (2 layers, n_embd 32, 4 heads, vocab 300, 64 positions):
                      input_ids (B, T), logits (B, T, V), loss (LM loss with labels = input_ids)
        gpt2-untied   GPT2LMHeadModel with tie_word_embeddings = false: input_ids, logits
        gpt2-base     GPT2Model (no LM head, names without "transformer."): input_ids, hidden
        gpt2-bf16     GPT2LMHeadModel saved in bfloat16 (config "dtype": "bfloat16"); the expected
                      logits are Hugging Face's float32 run of the bf16-rounded weights
        bert-pretraining  BertForPreTraining ("bert." prefix, MLM + NSP heads) with a BertTokenizerFast
                      on a small WordPiece vocabulary saved beside it; the inputs are that tokenizer's
                      padded batch of three sentence pairs: input_ids, token_type_ids, attention_mask,
                      hidden (B, T, C), pooled (B, C), mlm_logits (B, T, V), nsp_logits (B, 2),
                      mlm_labels, nsp_labels and loss (MLM + NSP, as Hugging Face sums them)
        bert-model    BertModel (names without "bert.", pooler, no heads): hidden, pooled
      and tokenizer.json: the ids BertTokenizerFast gives for a few texts and pairs.
  $PY benchmarks/parity/hf_interop.py logits MODEL_DIR IDS_JSON [MODEL_DIR IDS_JSON ...]
      Loads a directory fuselm wrote with the class its config.json names, strictly: any missing,
      unexpected or mis-shaped key is an error, and Hugging Face's load warnings are printed on
      stderr. Runs it in float32 (eval mode) on IDS_JSON ({"input_ids": [[...]], optional
      "token_type_ids" and "attention_mask"}) and prints one JSON object per line on stdout:
      "model_dir", "architecture", "config" (the config as Hugging Face's config class parsed it),
      "tied" (whether the LM/MLM head shares the word embedding), "logits" (GPT2LMHeadModel,
      B x T x V), "hidden" (B x T x C, after GPT-2's final layer norm), and for BERT "pooled",
      "mlm_logits" (B x T x V), "nsp_logits" when the model has them; or, for a directory that did
      not load cleanly, "model_dir" and "error". Exit status 3 when any did not. Several pairs in one
      call pay for importing torch and transformers (several seconds) once.
      When IDS_JSON has "texts" (strings, or [first, second] pairs), the directory's tokenizer is
      loaded with AutoTokenizer and "tokens" lists its input_ids and token_type_ids for each; a
      directory without model.safetensors is then only tokenized.

The Java side is dev.fuselm.io.HfFixtureTest (the committed fixtures, no Python) and
dev.fuselm.io.HfRoundTripTest (runs `logits` on directories fuselm saves; needs FUSELM_HF_PYTHON).
"""
import json
import logging
import os
import sys

import torch
import transformers
from safetensors.torch import save_file

SEED = 1234


def perturb(model, gen):
    """Replaces every parameter with random values of a useful size.

    Hugging Face's init (N(0, 0.02), biases 0, layer norms 1 and 0) leaves the outputs close to
    trivial, so a wrong bias or layer-norm wiring could hide in the noise; this draws weights
    N(0, 0.1), biases N(0, 0.05) and layer-norm weights 1 + N(0, 0.1). Tied parameters are one
    tensor in named_parameters(), so they stay tied.
    """
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if "LayerNorm.weight" in name or name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith("bias"):
                p.copy_(0.05 * noise)
            else:
                p.copy_(0.1 * noise)


def save_expected(path, tensors):
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, path)


def gpt2_config(vocab, positions, embd, layers, heads, tied=True):
    return transformers.GPT2Config(
        vocab_size=vocab, n_positions=positions, n_embd=embd, n_layer=layers, n_head=heads,
        embd_pdrop=0.0, resid_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=tied,
        bos_token_id=vocab - 1, eos_token_id=vocab - 1)


def make_gpt2(out, gen):
    B, T = 2, 12
    specs = [
        # name, class, config, dtype written
        ("gpt2-lmhead", transformers.GPT2LMHeadModel, gpt2_config(300, 64, 32, 2, 4), torch.float32),
        ("gpt2-untied", transformers.GPT2LMHeadModel, gpt2_config(64, 16, 16, 1, 2, tied=False),
         torch.float32),
        ("gpt2-base", transformers.GPT2Model, gpt2_config(64, 16, 16, 1, 2), torch.float32),
        ("gpt2-bf16", transformers.GPT2LMHeadModel, gpt2_config(64, 16, 16, 1, 2), torch.bfloat16),
    ]
    for name, cls, config, dtype in specs:
        model = cls(config)
        perturb(model, gen)
        if dtype != torch.float32:
            # round to the saved dtype, then compute the reference in float32 from those values
            model = model.to(dtype)
            model.save_pretrained(os.path.join(out, name), safe_serialization=True)
            model = model.float()
        else:
            model.save_pretrained(os.path.join(out, name), safe_serialization=True)
        model.eval()
        ids = torch.randint(0, config.vocab_size, (B, T), generator=gen)
        expected = {"input_ids": ids}
        with torch.no_grad():
            if cls is transformers.GPT2Model:
                expected["hidden"] = model(input_ids=ids).last_hidden_state
            else:
                r = model(input_ids=ids, labels=ids)
                expected["logits"] = r.logits
                expected["loss"] = r.loss.reshape(1)
        save_expected(os.path.join(out, name + ".expected.safetensors"), expected)


# A small WordPiece vocabulary: BERT's special tokens, characters (so every ASCII word can be
# spelled), continuation pieces and some whole words.
def bert_vocab():
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")
    vocab += ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"]
    vocab += ["the", "quick", "brown", "fox", "jump", "##s", "##ed", "##ing", "over", "lazy", "dog",
              "cafe", "a", "of", "and", "to", "in", "is", "it", "was", "he", "she", "you", "that",
              "with", "for", "on", "said", "##er", "##ly", "##est", "un", "##able", "model", "token",
              "language", "java", "run", "##n", "fast"]
    seen, out = set(), []
    for v in vocab:
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


TOKENIZER_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Caf\u00e9 au lait, NA\u00cfVE r\u00e9sum\u00e9s!",
    "Unjumpable models run fastest?? 42-1",
    "\u4e2d\u6587 and emoji \U0001F600 are unknown",
    "  spaces\tand\nnewlines  ",
]
TOKENIZER_PAIRS = [
    ("He said it was lazy.", "She jumped over the dog!"),
    ("Java language model", "tokens"),
]


def make_bert(out, gen):
    import tempfile
    vocab = bert_vocab()
    V = len(vocab)
    pre_dir = os.path.join(out, "bert-pretraining")
    with tempfile.TemporaryDirectory() as tmp:
        vfile = os.path.join(tmp, "vocab.txt")
        with open(vfile, "w", encoding="utf-8") as f:
            f.write("\n".join(vocab) + "\n")
        # from a directory holding vocab.txt, as for a Hub model: 5.x's BertTokenizerFast(vocab_file=)
        # silently ignores the file and builds a 5-token vocabulary
        tok = transformers.BertTokenizerFast.from_pretrained(tmp, do_lower_case=True)
    if len(tok) != V:
        sys.exit(f"the tokenizer has {len(tok)} tokens, the vocabulary {V}")
    cases = []
    for text in TOKENIZER_TEXTS:
        e = tok(text)
        cases.append({"text": text, "input_ids": e["input_ids"], "token_type_ids": e["token_type_ids"]})
    for a, b in TOKENIZER_PAIRS:
        e = tok(a, b)
        cases.append({"text": a, "pair": b, "input_ids": e["input_ids"],
                      "token_type_ids": e["token_type_ids"]})

    def bert_config(vocab_size, hidden, layers, heads, inter, positions):
        return transformers.BertConfig(
            vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers,
            num_attention_heads=heads, intermediate_size=inter, max_position_embeddings=positions,
            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)

    # bert-pretraining: the inputs are the tokenizer's padded batch of three sentence pairs
    model = transformers.BertForPreTraining(bert_config(V, 32, 2, 4, 64, 64))
    perturb(model, gen)
    model.save_pretrained(pre_dir, safe_serialization=True)
    tok.save_pretrained(pre_dir)
    model.eval()
    batch = tok([p[0] for p in TOKENIZER_PAIRS] + ["The fox"],
                [p[1] for p in TOKENIZER_PAIRS] + ["ran"], padding=True, return_tensors="pt")
    ids, types, mask = batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]
    mlm_labels = torch.full_like(ids, -100)
    pick = torch.rand(ids.shape, generator=gen) < 0.3
    pick &= mask.bool()
    mlm_labels[pick] = torch.randint(0, V, ids.shape, generator=gen)[pick]
    nsp_labels = torch.tensor([0, 1, 0])
    with torch.no_grad():
        r = model(input_ids=ids, token_type_ids=types, attention_mask=mask, labels=mlm_labels,
                  next_sentence_label=nsp_labels, output_hidden_states=True)
        base = model.bert(input_ids=ids, token_type_ids=types, attention_mask=mask)
    save_expected(os.path.join(out, "bert-pretraining.expected.safetensors"), {
        "input_ids": ids, "token_type_ids": types, "attention_mask": mask,
        "hidden": base.last_hidden_state, "pooled": base.pooler_output,
        "mlm_logits": r.prediction_logits, "nsp_logits": r.seq_relationship_logits,
        "mlm_labels": mlm_labels, "nsp_labels": nsp_labels, "loss": r.loss.reshape(1)})

    # bert-model: the bare encoder with its pooler, saved without the "bert." prefix
    model = transformers.BertModel(bert_config(50, 16, 1, 2, 24, 16))
    perturb(model, gen)
    model.save_pretrained(os.path.join(out, "bert-model"), safe_serialization=True)
    model.eval()
    B, T = 2, 7
    ids = torch.randint(0, 50, (B, T), generator=gen)
    types = torch.tensor([[0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]])
    with torch.no_grad():
        base = model(input_ids=ids, token_type_ids=types, attention_mask=mask)
    save_expected(os.path.join(out, "bert-model.expected.safetensors"), {
        "input_ids": ids, "token_type_ids": types, "attention_mask": mask,
        "hidden": base.last_hidden_state, "pooled": base.pooler_output})
    return cases


def make_fixtures(out):
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(SEED)
    make_gpt2(out, gen)
    cases = make_bert(out, gen)
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer": "bert-pretraining (BertTokenizerFast, transformers "
                   + transformers.__version__ + ")", "cases": cases}, f, ensure_ascii=True, indent=1)
        f.write("\n")
    for name in sorted(os.listdir(out)):
        p = os.path.join(out, name)
        size = sum(os.path.getsize(os.path.join(p, n)) for n in os.listdir(p)) if os.path.isdir(p) \
            else os.path.getsize(p)
        print(f"{name}: {size} bytes", file=sys.stderr)


def tolist(t):
    return t.detach().float().tolist()


def logits(model_dir, ids_json):
    """One model directory run on one input file: the JSON object described in the module doc."""
    with open(ids_json, encoding="utf-8") as f:
        inputs = json.load(f)
    out = {"model_dir": model_dir}
    if "texts" in inputs:
        tok = transformers.AutoTokenizer.from_pretrained(model_dir)
        out["tokenizer"] = type(tok).__name__
        out["tokens"] = []
        for text in inputs["texts"]:
            e = tok(*text) if isinstance(text, list) else tok(text)
            out["tokens"].append({"input_ids": e["input_ids"],
                                  "token_type_ids": e.get("token_type_ids")})
        if not os.path.exists(os.path.join(model_dir, "model.safetensors")):
            return out
    config = transformers.AutoConfig.from_pretrained(model_dir)
    archs = config.architectures or []
    if len(archs) != 1 or not hasattr(transformers, archs[0]):
        return {"model_dir": model_dir,
                "error": f"config.json must name one transformers architecture, got {archs}"}
    cls = getattr(transformers, archs[0])
    model, info = cls.from_pretrained(model_dir, output_loading_info=True, dtype=torch.float32,
                                      attn_implementation="eager")
    problems = {k: sorted(map(str, v)) for k, v in info.items() if v}
    if problems:
        return {"model_dir": model_dir,
                "error": f"Hugging Face did not load it cleanly: {json.dumps(problems)}"}
    model.eval()
    ids = torch.tensor(inputs["input_ids"])
    out.update({"config": model.config.to_dict(), "architecture": archs[0]})
    with torch.no_grad():
        if config.model_type == "gpt2":
            if hasattr(model, "lm_head"):
                out["tied"] = model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()
                r = model(input_ids=ids, output_hidden_states=True)
                out["logits"] = tolist(r.logits)
                out["hidden"] = tolist(r.hidden_states[-1])
            else:
                out["hidden"] = tolist(model(input_ids=ids).last_hidden_state)
        elif config.model_type == "bert":
            kw = {"input_ids": ids}
            for k in ("token_type_ids", "attention_mask"):
                if k in inputs:
                    kw[k] = torch.tensor(inputs[k])
            bert = model.bert if hasattr(model, "bert") else model
            base = bert(**kw)
            out["hidden"] = tolist(base.last_hidden_state)
            if base.pooler_output is not None:
                out["pooled"] = tolist(base.pooler_output)
            if hasattr(model, "cls"):
                out["tied"] = (model.cls.predictions.decoder.weight.data_ptr()
                               == bert.embeddings.word_embeddings.weight.data_ptr())
                r = model(**kw)
                out["mlm_logits"] = tolist(r.prediction_logits)
                out["nsp_logits"] = tolist(r.seq_relationship_logits)
        else:
            return {"model_dir": model_dir,
                    "error": f"model_type {config.model_type} is neither gpt2 nor bert"}
    return out


def main(argv):
    if len(argv) >= 1 and argv[0] == "make-fixtures" and len(argv) <= 2:
        here = os.path.dirname(os.path.abspath(__file__))
        make_fixtures(argv[1] if len(argv) == 2 else os.path.join(here, "../../src/test/resources/hf"))
    elif len(argv) >= 3 and len(argv) % 2 == 1 and argv[0] == "logits":
        # Hugging Face's load report and warnings go to stderr, where the caller shows them
        transformers.logging.set_verbosity_warning()
        transformers.logging.disable_progress_bar()
        logging.captureWarnings(True)
        failed = False
        for model_dir, ids_json in zip(argv[1::2], argv[2::2]):
            out = logits(model_dir, ids_json)
            if "error" in out:
                print(f"{model_dir}: {out['error']}", file=sys.stderr)
                failed = True
            json.dump(out, sys.stdout)
            sys.stdout.write("\n")
            sys.stdout.flush()
        sys.exit(3 if failed else 0)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])

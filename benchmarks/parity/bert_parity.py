#!/usr/bin/python3
"""Reference fixtures for fuselm's BERT: a tiny random BERT written in plain PyTorch with Hugging
Face's tensor names, nn.Linear (out, in) layouts and BertForPreTraining's exact semantics (extended
attention mask of dtype-min on padding keys, erf GELU, post-LN blocks, LayerNorm eps 1e-12, pooler
dense + tanh on [CLS], MLM head tied to the word embeddings, NSP head), no `transformers` needed.

Writes into src/test/resources/parity/bert/ (or the directory given as the first argument):
  config.json           Hugging Face BertConfig of the tiny model
  model.safetensors     its weights, F32, names bert.* and cls.* (the tied decoder weight not stored)
  expected.safetensors  input_ids, token_type_ids, attention_mask, mlm_labels, nsp_labels (I64);
                        hidden (B, T, C), pooled (B, C), mlm_logits (B, T, V), nsp_logits (B, 2),
                        mlm_loss, nsp_loss, and grad.<name> of every parameter for mlm_loss + nsp_loss
Run:  /usr/bin/python3 benchmarks/parity/bert_parity.py   (Debian's python3-torch; CPU, fp32)
The Java side is dev.fuselm.model.BertParityTest. benchmarks/bert/bert_torch_bench.py reuses forward().
"""
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpt2_parity import write_safetensors  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

CONFIG = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
              intermediate_size=37, max_position_embeddings=64, type_vocab_size=2, layer_norm_eps=1e-12)
B, T = 3, 11


def param_shapes(cfg, heads=True):
    V, C, I = cfg["vocab_size"], cfg["hidden_size"], cfg["intermediate_size"]
    e = "bert.embeddings."
    shapes = [(e + "word_embeddings.weight", (V, C)),
              (e + "position_embeddings.weight", (cfg["max_position_embeddings"], C)),
              (e + "token_type_embeddings.weight", (cfg["type_vocab_size"], C)),
              (e + "LayerNorm.weight", (C,)), (e + "LayerNorm.bias", (C,))]
    for l in range(cfg["num_hidden_layers"]):
        p = f"bert.encoder.layer.{l}."
        for n in ("query", "key", "value"):
            shapes += [(p + f"attention.self.{n}.weight", (C, C)), (p + f"attention.self.{n}.bias", (C,))]
        shapes += [(p + "attention.output.dense.weight", (C, C)), (p + "attention.output.dense.bias", (C,)),
                   (p + "attention.output.LayerNorm.weight", (C,)), (p + "attention.output.LayerNorm.bias", (C,)),
                   (p + "intermediate.dense.weight", (I, C)), (p + "intermediate.dense.bias", (I,)),
                   (p + "output.dense.weight", (C, I)), (p + "output.dense.bias", (C,)),
                   (p + "output.LayerNorm.weight", (C,)), (p + "output.LayerNorm.bias", (C,))]
    shapes += [("bert.pooler.dense.weight", (C, C)), ("bert.pooler.dense.bias", (C,))]
    if heads:
        shapes += [("cls.predictions.bias", (V,)),
                   ("cls.predictions.transform.dense.weight", (C, C)),
                   ("cls.predictions.transform.dense.bias", (C,)),
                   ("cls.predictions.transform.LayerNorm.weight", (C,)),
                   ("cls.predictions.transform.LayerNorm.bias", (C,)),
                   ("cls.seq_relationship.weight", (2, C)), ("cls.seq_relationship.bias", (2,))]
    return shapes


def init_params(cfg, gen, std=0.1, heads=True):
    params = {}
    for name, shape in param_shapes(cfg, heads):
        if "LayerNorm.weight" in name:
            t = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        elif name.endswith("bias"):
            t = 0.05 * torch.randn(shape, generator=gen)
        else:
            t = std * torch.randn(shape, generator=gen)
        params[name] = t.float().requires_grad_(True)
    return params


def linear(p, name, x):
    return F.linear(x, p[name + ".weight"], p[name + ".bias"])


def layer_norm(p, name, x, eps):
    return F.layer_norm(x, (x.shape[-1],), p[name + ".weight"], p[name + ".bias"], eps)


def encoder(p, cfg, ids, types, mask):
    """hidden states (B, T, C) of BertModel (no dropout: eval semantics)."""
    b, t = ids.shape
    C, NH, eps = cfg["hidden_size"], cfg["num_attention_heads"], cfg["layer_norm_eps"]
    hs = C // NH
    e = "bert.embeddings."
    x = p[e + "word_embeddings.weight"][ids] + p[e + "position_embeddings.weight"][:t] \
        + p[e + "token_type_embeddings.weight"][types]
    x = layer_norm(p, e + "LayerNorm", x, eps)
    # BertModel.get_extended_attention_mask: (1 - mask) * finfo(float32).min, added to the scores
    ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    for l in range(cfg["num_hidden_layers"]):
        q_ = f"bert.encoder.layer.{l}."

        def heads_of(z):
            return z.view(b, t, NH, hs).transpose(1, 2)
        q = heads_of(linear(p, q_ + "attention.self.query", x))
        k = heads_of(linear(p, q_ + "attention.self.key", x))
        v = heads_of(linear(p, q_ + "attention.self.value", x))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hs) + ext
        y = (att.softmax(dim=-1) @ v).transpose(1, 2).contiguous().view(b, t, C)
        x = layer_norm(p, q_ + "attention.output.LayerNorm", linear(p, q_ + "attention.output.dense", y) + x, eps)
        h = F.gelu(linear(p, q_ + "intermediate.dense", x))  # exact erf GELU (hidden_act "gelu")
        x = layer_norm(p, q_ + "output.LayerNorm", linear(p, q_ + "output.dense", h) + x, eps)
    return x


def pooler(p, hidden):
    return torch.tanh(linear(p, "bert.pooler.dense", hidden[:, 0]))


def mlm_logits(p, cfg, hidden):
    h = F.gelu(linear(p, "cls.predictions.transform.dense", hidden))
    h = layer_norm(p, "cls.predictions.transform.LayerNorm", h, cfg["layer_norm_eps"])
    return h @ p["bert.embeddings.word_embeddings.weight"].t() + p["cls.predictions.bias"]


def hf_config(cfg):
    c = {"architectures": ["BertForPreTraining"], "model_type": "bert", "hidden_act": "gelu",
         "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
         "pad_token_id": 0, "position_embedding_type": "absolute", "use_cache": True}
    c.update(cfg)
    return c


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "test", "resources", "parity", "bert")
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(4321)
    cfg = CONFIG
    params = init_params(cfg, gen)
    V = cfg["vocab_size"]
    ids = torch.randint(1, V, (B, T), generator=gen)
    types = torch.zeros(B, T, dtype=torch.int64)
    types[:, 6:] = 1
    mask = torch.ones(B, T, dtype=torch.int64)
    mask[1, 7:] = 0  # padding in the batch: sequence 1 has 7 real tokens, sequence 2 has 4
    mask[2, 4:] = 0
    ids[mask == 0] = 0
    types[mask == 0] = 0
    labels = torch.full((B, T), -100, dtype=torch.int64)
    for b_, t_ in [(0, 1), (0, 5), (0, 9), (1, 2), (1, 6), (2, 3), (2, 8)]:  # (2, 8) is padding: a label there counts too
        labels[b_, t_] = torch.randint(0, V, (1,), generator=gen).item()
    nsp = torch.tensor([0, 1, 1])

    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(hf_config(cfg), f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(out, "model.safetensors"), params, {"format": "pt"})

    hidden = encoder(params, cfg, ids, types, mask)
    pooled = pooler(params, hidden)
    logits = mlm_logits(params, cfg, hidden)
    nsp_logits = linear(params, "cls.seq_relationship", pooled)
    mlm_loss = F.cross_entropy(logits.view(-1, V), labels.view(-1), ignore_index=-100)
    nsp_loss = F.cross_entropy(nsp_logits, nsp)
    (mlm_loss + nsp_loss).backward()
    expected = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask, "mlm_labels": labels,
                "nsp_labels": nsp, "hidden": hidden, "pooled": pooled, "mlm_logits": logits,
                "nsp_logits": nsp_logits, "mlm_loss": mlm_loss.reshape(1), "nsp_loss": nsp_loss.reshape(1)}
    for name, t in params.items():
        expected["grad." + name] = t.grad.clone()
    write_safetensors(os.path.join(out, "expected.safetensors"), expected, {"torch": torch.__version__})
    print(json.dumps({"mlm_loss": mlm_loss.item(), "nsp_loss": nsp_loss.item(), "out": os.path.abspath(out)}))


if __name__ == "__main__":
    main()

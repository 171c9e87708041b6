#!/usr/bin/python3
"""Reference fixtures for fuselm's GPT-2: a tiny random GPT-2 written in plain PyTorch with
Hugging Face's tensor names and Conv1D layouts (c_attn.weight is (C, 3C)), no `transformers` needed.

Writes into src/test/resources/parity/ (or the directory given as the first argument):
  config.json           Hugging Face GPT2Config of the tiny model
  model.safetensors     its weights, F32, names transformer.* (tied LM head, not stored)
  expected.safetensors  ids, targets (I64), logits (B, T, V), loss, grad.<name> for every parameter,
                        adamw_losses: the loss before each of 3 AdamW steps and after the last
Run:  /usr/bin/python3 benchmarks/parity/gpt2_parity.py   (Debian's python3-torch; CPU, fp32)
The Java side is dev.fuselm.model.Gpt2ParityTest.
"""
import json
import math
import os
import struct
import sys

import torch

V, P, C, L, NH = 64, 16, 32, 2, 4
B, T = 2, 8
LR, BETAS, EPS, WD, CLIP = 1e-2, (0.9, 0.95), 1e-8, 0.1, 1.0
LN_EPS = 1e-5


def param_shapes():
    shapes = [("transformer.wte.weight", (V, C)), ("transformer.wpe.weight", (P, C))]
    for l in range(L):
        p = f"transformer.h.{l}."
        shapes += [
            (p + "ln_1.weight", (C,)), (p + "ln_1.bias", (C,)),
            (p + "attn.c_attn.weight", (C, 3 * C)), (p + "attn.c_attn.bias", (3 * C,)),
            (p + "attn.c_proj.weight", (C, C)), (p + "attn.c_proj.bias", (C,)),
            (p + "ln_2.weight", (C,)), (p + "ln_2.bias", (C,)),
            (p + "mlp.c_fc.weight", (C, 4 * C)), (p + "mlp.c_fc.bias", (4 * C,)),
            (p + "mlp.c_proj.weight", (4 * C, C)), (p + "mlp.c_proj.bias", (C,)),
        ]
    shapes += [("transformer.ln_f.weight", (C,)), ("transformer.ln_f.bias", (C,))]
    return shapes


def init_params(gen):
    params = {}
    for name, shape in param_shapes():
        if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
            t = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        elif name.endswith(".bias"):
            t = 0.05 * torch.randn(shape, generator=gen)
        else:
            t = 0.1 * torch.randn(shape, generator=gen)
        params[name] = t.float().requires_grad_(True)
    return params


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def forward(p, ids):
    b, t = ids.shape
    hs = C // NH
    x = p["transformer.wte.weight"][ids] + p["transformer.wpe.weight"][:t]
    mask = torch.tril(torch.ones(t, t, dtype=torch.bool))
    for l in range(L):
        q_ = f"transformer.h.{l}."
        h = torch.nn.functional.layer_norm(x, (C,), p[q_ + "ln_1.weight"], p[q_ + "ln_1.bias"], LN_EPS)
        qkv = h @ p[q_ + "attn.c_attn.weight"] + p[q_ + "attn.c_attn.bias"]
        q, k, v = qkv.split(C, dim=2)
        q = q.view(b, t, NH, hs).transpose(1, 2)
        k = k.view(b, t, NH, hs).transpose(1, 2)
        v = v.view(b, t, NH, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, C)
        x = x + y @ p[q_ + "attn.c_proj.weight"] + p[q_ + "attn.c_proj.bias"]
        h = torch.nn.functional.layer_norm(x, (C,), p[q_ + "ln_2.weight"], p[q_ + "ln_2.bias"], LN_EPS)
        m = gelu_new(h @ p[q_ + "mlp.c_fc.weight"] + p[q_ + "mlp.c_fc.bias"])
        x = x + m @ p[q_ + "mlp.c_proj.weight"] + p[q_ + "mlp.c_proj.bias"]
    x = torch.nn.functional.layer_norm(x, (C,), p["transformer.ln_f.weight"], p["transformer.ln_f.bias"], LN_EPS)
    return x @ p["transformer.wte.weight"].t()


def loss_of(logits, targets):
    return torch.nn.functional.cross_entropy(logits.view(-1, V), targets.view(-1), ignore_index=-100)


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.detach().contiguous()
        if t.dtype == torch.float32:
            dtype, raw = "F32", t.numpy().astype("<f4").tobytes()
        elif t.dtype == torch.int64:
            dtype, raw = "I64", t.numpy().astype("<i8").tobytes()
        else:
            raise ValueError(t.dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for raw in blobs:
            f.write(raw)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "test", "resources", "parity")
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(1234)
    params = init_params(gen)
    ids = torch.randint(0, V, (B, T), generator=gen)
    targets = torch.randint(0, V, (B, T), generator=gen)
    targets[0, 2] = -100  # one ignored position

    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
              "vocab_size": V, "n_positions": P, "n_ctx": P, "n_embd": C, "n_layer": L, "n_head": NH,
              "embd_pdrop": 0.0, "resid_pdrop": 0.0, "attn_pdrop": 0.0, "layer_norm_epsilon": LN_EPS,
              "initializer_range": 0.02, "tie_word_embeddings": True}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(out, "model.safetensors"), params, {"format": "pt"})

    logits = forward(params, ids)
    loss = loss_of(logits, targets)
    loss.backward()
    expected = {"ids": ids, "targets": targets, "logits": logits, "loss": loss.reshape(1)}
    for name, t in params.items():
        expected["grad." + name] = t.grad.clone()

    decay = [t for n, t in params.items() if t.dim() >= 2]
    no_decay = [t for n, t in params.items() if t.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=BETAS, eps=EPS)
    losses = []
    for step in range(3):
        opt.zero_grad()
        l_ = loss_of(forward(params, ids), targets)
        losses.append(l_.item())
        l_.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), CLIP)
        opt.step()
    with torch.no_grad():
        losses.append(loss_of(forward(params, ids), targets).item())
    expected["adamw_losses"] = torch.tensor(losses, dtype=torch.float32)
    write_safetensors(os.path.join(out, "expected.safetensors"), expected,
                      {"torch": torch.__version__, "lr": str(LR), "weight_decay": str(WD), "clip": str(CLIP),
                       "betas": "0.9,0.95", "eps": str(EPS)})
    print(json.dumps({"loss": loss.item(), "adamw_losses": losses, "out": os.path.abspath(out)}))


if __name__ == "__main__":
    main()

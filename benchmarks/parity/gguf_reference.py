"""The gguf Python package (llama.cpp's gguf-py) as the reference for fuselm's GGUF reader and writer.

Needs a python with gguf and numpy; benchmarks/parity/gguf_venv.sh makes one from the local index:

  PY=$(benchmarks/parity/gguf_venv.sh ~/.cache/fuselm/gguf-venv)
  $PY benchmarks/parity/gguf_reference.py from-hf MODEL_DIR OUT.gguf f32|f16|bf16|q8_0
  $PY benchmarks/parity/gguf_reference.py dump FILE.gguf OUT_DIR
  (several commands in one run: separate them with ::)

from-hf writes a Hugging Face GPT-2 directory (config.json, model.safetensors, encoder.json +
vocab.bpe or vocab.json + merges.txt) the way llama.cpp's convert_hf_to_gguf.py does for GPT-2:
the Conv1D matrices transposed to (out, in), llama.cpp's tensor names, gpt2.* hyperparameters,
the tokenizer as tokenizer.ggml.*; vectors stay F32, matrices take the type (Q8_0 and BF16 through
gguf.quants.quantize). dump reads a GGUF file with GGUFReader and writes OUT_DIR/meta.json
(metadata values, tensor names, ggml dims and types) and, per tensor, OUT_DIR/NAME.f32: its values
after gguf.quants.dequantize, little-endian float32, row-major. GgufPythonTest drives both.
"""
import json
import os
import sys

import numpy as np
import gguf

TRANSPOSED = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight")
BLOCK_NAMES = {
    "ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output",
    "ln_2": "ffn_norm", "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down",
}
DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
    return out


def gguf_name(hf):
    name = hf[len("transformer."):] if hf.startswith("transformer.") else hf
    if name.startswith("h."):
        _, layer, rest = name.split(".", 2)
        module, wb = rest.rsplit(".", 1)
        return f"blk.{layer}.{BLOCK_NAMES[module]}.{wb}"
    return {"wte.weight": "token_embd.weight", "wpe.weight": "position_embd.weight",
            "ln_f.weight": "output_norm.weight", "ln_f.bias": "output_norm.bias",
            "lm_head.weight": "output.weight"}[name]


def read_tokenizer(model_dir):
    for enc, bpe in (("encoder.json", "vocab.bpe"), ("vocab.json", "merges.txt")):
        if os.path.exists(os.path.join(model_dir, enc)):
            with open(os.path.join(model_dir, enc), encoding="utf-8") as f:
                vocab = json.load(f)
            with open(os.path.join(model_dir, bpe), encoding="utf-8") as f:
                merges = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#version")]
            return vocab, merges
    raise SystemExit(f"{model_dir}: no encoder.json + vocab.bpe or vocab.json + merges.txt")


def from_hf(model_dir, out, type_name):
    qtype = {"f32": None, "f16": gguf.GGMLQuantizationType.F16,
             "bf16": gguf.GGMLQuantizationType.BF16, "q8_0": gguf.GGMLQuantizationType.Q8_0}[type_name]
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    tensors = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    tied = cfg.get("tie_word_embeddings", True)
    w = gguf.GGUFWriter(out, "gpt2")
    w.add_name(os.path.basename(os.path.normpath(model_dir)))
    w.add_block_count(cfg["n_layer"])
    w.add_context_length(cfg["n_positions"])
    w.add_embedding_length(cfg["n_embd"])
    w.add_feed_forward_length(4 * cfg["n_embd"])
    w.add_head_count(cfg["n_head"])
    w.add_layer_norm_eps(cfg.get("layer_norm_epsilon", 1e-5))
    w.add_file_type({"f32": 0, "f16": 1, "q8_0": 7, "bf16": 32}[type_name])
    vocab, merges = read_tokenizer(model_dir)
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    types = [gguf.TokenType.CONTROL if t == "<|endoftext|>" else gguf.TokenType.NORMAL for t in tokens]
    for i in range(len(tokens), cfg["vocab_size"]):
        tokens.append(f"[PAD{i}]")
        types.append(gguf.TokenType.UNUSED)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    if "<|endoftext|>" in vocab:
        w.add_bos_token_id(vocab["<|endoftext|>"])
        w.add_eos_token_id(vocab["<|endoftext|>"])
    for hf, data in tensors.items():
        if hf.endswith((".attn.bias", ".attn.masked_bias")) or (hf == "lm_head.weight" and tied):
            continue
        data = data.astype(np.float32)
        if hf.endswith(TRANSPOSED):
            data = np.ascontiguousarray(data.T)
        if data.ndim == 1 or qtype is None or (qtype == gguf.GGMLQuantizationType.Q8_0
                                                and data.shape[-1] % 32 != 0):
            w.add_tensor(gguf_name(hf), data)
        else:
            w.add_tensor(gguf_name(hf), gguf.quants.quantize(data, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def plain(v):
    if isinstance(v, (np.generic,)):
        return v.item()
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def dump(path, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    r = gguf.GGUFReader(path)
    meta = {}
    for name, field in r.fields.items():
        if name.startswith("GGUF."):
            continue  # the reader's own header fields
        meta[name] = {"type": field.types[0].name, "value": plain(field.contents())}
    infos = []
    for t in r.tensors:
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        with open(os.path.join(out_dir, t.name + ".f32"), "wb") as f:
            f.write(values.astype("<f4").tobytes())
        infos.append({"name": t.name, "dims": [int(d) for d in t.shape], "type": t.tensor_type.name})
    with open(os.path.join(out_dir, "meta.json"), "w", encoding="utf-8") as f:
        json.dump({"metadata": meta, "tensors": infos}, f)


def main(args):
    if len(args) == 4 and args[0] == "from-hf":
        from_hf(args[1], args[2], args[3])
    elif len(args) == 3 and args[0] == "dump":
        dump(args[1], args[2])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    # several commands in one process (one numpy + gguf import): CMD ARGS :: CMD ARGS ...
    command = []
    for a in sys.argv[1:] + ["::"]:
        if a == "::":
            if command:
                main(command)
            command = []
        else:
            command.append(a)

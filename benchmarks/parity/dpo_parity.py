#!/usr/bin/env python3
"""Reference fixtures for fuselm's DPO loss (dev.fuselm.train.DpoParityTest), in plain PyTorch.

The reference model is the tiny random GPT-2 of gpt2_parity.py (src/test/resources/parity/); the
policy is that model with seeded noise added to every weight, so the two differ. Three preference
pairs of random token ids (prompt, chosen, rejected; end-of-text id 63 ends each response and pads)
are collated as fuselm does: 2B rows, chosen first, right-padded with end-of-text, inputs = sequence
without its last token, targets = sequence shifted left, prompt and padding targets -100. The loss
follows the book's dpo-from-scratch notebook (compute_logprobs + compute_dpo_loss) for both
reductions of a response's token log-probabilities: "mean" (the book) and "sum" (the paper).

Writes into src/test/resources/parity/dpo/ (or the directory given as the first argument):
  config.json, model.safetensors   the policy (Hugging Face GPT-2 names)
  expected.safetensors             prompt_lengths, pair<i>.chosen / pair<i>.rejected (I64 token ids),
                                   inputs, targets (2B, T), and for each reduction R in mean, sum:
                                   R.policy_logprobs, R.reference_logprobs (2B), R.loss,
                                   R.chosen_rewards, R.rejected_rewards (B), R.grad.<name>
Run:  PY=$(benchmarks/parity/hf_venv.sh ~/.cache/fuselm/hf-venv); $PY benchmarks/parity/dpo_parity.py
"""
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpt2_parity as g  # noqa: E402  (the tiny GPT-2's forward, layouts and safetensors writer)

EOT = 63
BETAS = {"mean": 0.1, "sum": 0.5}
# (prompt length, chosen length, rejected length): responses without their end-of-text
SHAPES = [(5, 4, 2), (3, 6, 7), (7, 1, 3)]


def read_safetensors(path):
    from safetensors.torch import load_file
    return {k: v.float() for k, v in load_file(path).items()}


def collate(pairs):
    rows = [c for c, _, _ in pairs] + [r for _, r, _ in pairs]
    plens = [p for _, _, p in pairs] * 2
    t = max(len(s) for s in rows) - 1
    inputs = torch.full((len(rows), t), EOT, dtype=torch.int64)
    targets = torch.full((len(rows), t), -100, dtype=torch.int64)
    for i, (s, p) in enumerate(zip(rows, plens)):
        for j in range(len(s) - 1):
            inputs[i, j] = s[j]
            if j >= p - 1:
                targets[i, j] = s[j + 1]
    return inputs, targets


def compute_logprobs(logits, targets, reduction):
    # the book's compute_logprobs, with fuselm's already shifted targets (-100 = masked)
    mask = targets != -100
    logp = torch.log_softmax(logits, dim=-1)
    picked = torch.gather(logp, -1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1) * mask
    total = picked.sum(-1)
    return total / mask.sum(-1) if reduction == "mean" else total


def dpo_loss(pc, pr, rc, rr, beta):
    # the book's compute_dpo_loss
    logits = (pc - pr) - (rc - rr)
    losses = -torch.nn.functional.logsigmoid(beta * logits)
    return losses.mean(), (pc - rc).detach(), (pr - rr).detach()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parity = os.path.join(here, "..", "..", "src", "test", "resources", "parity")
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(parity, "dpo")
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(4321)
    reference = read_safetensors(os.path.join(parity, "model.safetensors"))
    policy = {n: (t + 0.05 * torch.randn(t.shape, generator=gen)).requires_grad_(True)
              for n, t in reference.items()}
    shutil.copyfile(os.path.join(parity, "config.json"), os.path.join(out, "config.json"))
    g.write_safetensors(os.path.join(out, "model.safetensors"), policy, {"format": "pt"})

    pairs = []
    expected = {}
    for i, (p, c, r) in enumerate(SHAPES):
        prompt = torch.randint(0, EOT, (p,), generator=gen).tolist()
        chosen = prompt + torch.randint(0, EOT, (c,), generator=gen).tolist() + [EOT]
        rejected = prompt + torch.randint(0, EOT, (r,), generator=gen).tolist() + [EOT]
        pairs.append((chosen, rejected, p))
        expected[f"pair{i}.chosen"] = torch.tensor(chosen, dtype=torch.int64)
        expected[f"pair{i}.rejected"] = torch.tensor(rejected, dtype=torch.int64)
    expected["prompt_lengths"] = torch.tensor([p for p, _, _ in SHAPES], dtype=torch.int64)
    inputs, targets = collate(pairs)
    expected["inputs"], expected["targets"] = inputs, targets
    n = len(pairs)
    summary = {}
    for red, beta in BETAS.items():
        with torch.no_grad():
            ref = compute_logprobs(g.forward(reference, inputs), targets, red)
        for t in policy.values():
            t.grad = None
        lp = compute_logprobs(g.forward(policy, inputs), targets, red)
        loss, cr, rr = dpo_loss(lp[:n], lp[n:], ref[:n], ref[n:], beta)
        loss.backward()
        expected[red + ".policy_logprobs"] = lp.detach()
        expected[red + ".reference_logprobs"] = ref
        expected[red + ".loss"] = loss.detach().reshape(1)
        expected[red + ".chosen_rewards"] = cr
        expected[red + ".rejected_rewards"] = rr
        for name, t in policy.items():
            expected[red + ".grad." + name] = t.grad.clone()
        summary[red] = {"beta": beta, "loss": loss.item()}
    g.write_safetensors(os.path.join(out, "expected.safetensors"), expected,
                        {"torch": torch.__version__, "beta_mean": str(BETAS["mean"]),
                         "beta_sum": str(BETAS["sum"]), "eot": str(EOT)})
    print(json.dumps({"out": os.path.abspath(out), **summary}))


if __name__ == "__main__":
    main()

"""Writing text with a language model: each step runs the model on the words so far and draws the next word.

    python -m zoo.generate runs/gpt_imdb/<run> --prompt "This movie was" --temperature 0.8 --top-k 40 --seed 0

`continue_ids` is the Keras reference that zoo.generate and the per-epoch samples.txt use (an exported decoder's loop,
export/decoding.py, is checked against it). Each step feeds the fixed-length window (ids 0-padded after the words)
and reads position len - 1's distribution; the causal models never look past it, so the padding changes nothing.
Padding (0) and `<s>` (2) are never written: their probabilities are set to 0 first. Temperature 0 takes the most
likely word (greedy, ties to the lowest id); otherwise the `top_k` most likely words (all with 0) are kept and drawn
from p^(1/temperature), renormalised, with numpy's PCG64 generator seeded by `seed`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def pick(probs: np.ndarray, temperature: float, top_k: int, rng: np.random.Generator) -> int:
    """The next id from one step's probabilities."""
    if temperature == 0:
        return int(np.argmax(probs))
    logp = np.log(np.maximum(probs.astype(np.float64), 1e-30)) / temperature
    if 0 < top_k < len(logp):
        cut = np.partition(logp, -top_k)[-top_k]
        logp = np.where(logp >= cut, logp, -np.inf)
    p = np.exp(logp - logp.max())
    return int(rng.choice(len(p), p=p / p.sum()))


def continue_ids(model, prompts: Sequence[Sequence[int]], steps: int, length: int, temperature: float = 0.0,
                 top_k: int = 0, seed: int = 0, never=(0, 2)) -> list[list[int]]:
    """Each prompt (ids, `<s>` first) continued by up to `steps` ids, no further than `length` ids in all; all
    prompts run as one batch per step. `never`: ids never written (padding and `<s>`, which no label ever is)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((len(prompts), length), np.int32)
    ends = []
    for row, ids in enumerate(prompts):
        if not 0 < len(ids) <= length:
            raise ValueError(f"prompt {row} has {len(ids)} ids; the model reads 1..{length}")
        x[row, : len(ids)] = ids
        ends.append(len(ids))
    out: list[list[int]] = [[] for _ in prompts]
    for _ in range(steps):
        rows = [r for r in range(len(prompts)) if ends[r] < length]
        if not rows:
            break
        probs = np.array(model.predict_on_batch(x), np.float32)  # the whole batch: one traced shape
        probs[..., list(never)] = 0.0
        for r in rows:
            token = pick(probs[r, ends[r] - 1], temperature, top_k, rng)
            x[r, ends[r]] = token
            ends[r] += 1
            out[r].append(token)
    return out

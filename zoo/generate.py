"""Write text with a trained language model (lstm_lm_imdb, gpt_imdb): each prompt continued word by word.

    python -m zoo.generate runs/gpt_imdb/20261207-040000 --prompt "This movie was" --max-tokens 60 \\
        --temperature 0.8 --top-k 40 --seed 0
    python -m zoo.generate runs/gpt_imdb/20261207-040000 --prompt "I loved" --prompt "The plot" --temperature 0
    python -m zoo.generate runs/lstm_lm_imdb/20261207-040000 --prompt - < prompts.txt     # one prompt per line

Each prompt is standardised and split as training read the reviews (lowercase, punctuation deleted; the run's
vocab.txt), `<s>` goes first, and the model draws one word at a time: `--temperature 0` always takes the most
likely word (greedy), otherwise a word is drawn from the `--top-k` most likely (0: all), their probabilities
raised to 1/temperature and renormalised, with numpy's generator seeded by `--seed` (the same arguments give the
same text). Each output line is the prompt as the model read it, then its continuation (`[UNK]` stands for any
word outside the vocabulary). The model reads `sequence_length` tokens at most (80 by default, `<s>` included):
a continuation stops there, which the command says. A prompt that is empty, has no word the model knows, or
leaves no room to write is named in one line and the others are still written; the exit code is then 1.
"""

from __future__ import annotations

import argparse
import sys

from zoo.cli import ArgumentParser, run_cli
from zoo.errors import UsageError


def check_prompts(prompts, tokens, length: int, err=print):
    """[(prompt, ids, standardised words)] of the usable prompts; each other one named in one `err` line."""
    from zoo.data.language import prompt_ids
    from zoo.data.text import OOV_ID

    good = []
    for prompt, (ids, words) in zip(prompts, prompt_ids(tokens, prompts)):
        why = ("has no words (after lowercasing and deleting punctuation)" if not words else
               f"has no word in the model's vocabulary of {len(tokens):,}" if all(i == OOV_ID for i in ids[1:]) else
               f"is {len(words)} words; the model reads {length} tokens, <s> included, so a prompt must leave room: "
               f"at most {length - 2} words" if len(ids) >= length else "")
        if why:
            err(f"error: prompt {prompt!r} {why}")
        else:
            good.append((prompt, ids, words))
    return good


def generate(run_dir, prompts, max_tokens: int = 60, temperature: float = 0.8, top_k: int = 40, seed: int = 0,
             log=print, err=None) -> int:
    """Print each prompt's continuation; returns how many prompts could not be used."""
    from zoo import runs
    from zoo.data.text import VOCAB_FILE, parse_vocab
    from zoo.predict import read_lines
    from zoo.run import Run
    from zoo.sampling import continue_ids
    from zoo.tasks.base import TOKENS
    from zoo.tasks.generation import decode_ids, is_language_model

    err = err or (lambda s: print(s, file=sys.stderr))
    if max_tokens < 1:
        raise UsageError("--max-tokens must be at least 1")
    if temperature < 0:
        raise UsageError("--temperature must be 0 (greedy) or more")
    if top_k < 0:
        raise UsageError("--top-k must be 0 (all words) or more")
    run = Run(run_dir)
    if run.task.output != TOKENS:
        raise UsageError(f"{run.folder} is a run of {run.recipe.name}, a {run.recipe.task} recipe; zoo.generate "
                         "writes text with a language model's run (lstm_lm_imdb, gpt_imdb)")
    if not is_language_model(run.info["text"]):
        raise UsageError(f"{run.folder} is a run of {run.recipe.name}, which converts whole inputs: use python -m "
                         f"zoo.predict {run.folder} INPUT ...")
    prompts = read_lines(prompts)
    if not prompts:
        raise UsageError("no prompt: give --prompt TEXT (repeatable), or --prompt - with one prompt per line on "
                         "standard input")
    tokens = parse_vocab(runs.read_data_files(run.folder, run.record)[VOCAB_FILE], f"{run.folder}/{VOCAB_FILE}")
    length = run.info["input_shape"][0]
    good = check_prompts(prompts, tokens, length, err)
    if good:
        outs = continue_ids(run.model(), [ids for _, ids, _ in good], max_tokens, length, temperature, top_k, seed)
        for (prompt, ids, words), out in zip(good, outs):
            log(" ".join(words + [decode_ids(out, tokens, sep=" ")]).rstrip())
            if len(out) < max_tokens:
                err(f"note: {prompt!r} stopped after {len(out)} words: the model reads {length} tokens at most "
                    "(its sequence_length)")
    return len(prompts) - len(good)


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m zoo.generate", description=__doc__.split("\n\n")[0],
                       epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", help="a language model's run folder (python -m zoo.train lstm_lm_imdb or gpt_imdb)")
    p.add_argument("--prompt", action="append", default=[], metavar="TEXT",
                   help="text to continue (repeatable); - reads one prompt per line of standard input")
    p.add_argument("--max-tokens", type=int, default=60, help="words to write per prompt (default 60)")
    p.add_argument("--temperature", type=float, default=0.8,
                   help="0: the most likely word each step (greedy); higher: more varied (default 0.8)")
    p.add_argument("--top-k", type=int, default=40, help="draw from the K most likely words; 0: all (default 40)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws: the same seed, the same text (default 0)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    args = p.parse_args(argv)
    return run_cli(lambda: 1 if generate(args.run_dir, args.prompt, args.max_tokens, args.temperature, args.top_k,
                                         args.seed) else 0, args.debug)


if __name__ == "__main__":
    sys.exit(main())

"""Human-written dates and their ISO form, generated from a seed: seq2seq_dates's corpus.

    python -m zoo.train seq2seq_dates
    python -m zoo.train seq2seq_dates --set train_examples=20000

How the corpus is made (`corpus(seed, counts)`): with `numpy.random.default_rng(seed)`,
draw a day uniformly from 1950-01-01 .. 2049-12-31, one of the `FORMATS` below uniformly,
and a letter case (as written 60%, lower 20%, UPPER 20%); write the day in that format and
case. A string already drawn is skipped, so every string is unique. The first
`test_examples` (10,000) unique strings are the test split, the next `val_examples` the
validation split, the rest the training split: the splits never share a date string (the same day may appear in
several splits, written differently). The corpus seed is the hyperparameter
`corpus_seed`, apart from the training seed, so every run is scored on the same test
dates.

Two-digit years mean 1950..2049 (50..99 -> 19xx, 00..49 -> 20xx), and a date with
slashes is month first (US), one with dots day first (European): within that rule every
string names one day. Inputs are characters (ids from `SOURCE_ALPHABET`), targets the
ten characters of YYYY-MM-DD then <end>.
"""

from __future__ import annotations

import datetime
import string

import numpy as np

FIRST, LAST = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SOURCE_ALPHABET = " ,./-" + string.digits + string.ascii_letters
PAD, UNKNOWN, START, END = "<pad>", "<unk>", "<start>", "<end>"
SOURCE_TOKENS = (PAD, UNKNOWN, *SOURCE_ALPHABET)
TARGET_TOKENS = (PAD, START, END, *"0123456789-")
SOURCE_LENGTH = 32  # the longest format, "Wednesday, September 22nd, 2021", is 31 characters
TARGET_LENGTH = 11  # YYYY-MM-DD and <end>
SOURCE_VOCAB, TARGET_VOCAB = "source_vocab.txt", "target_vocab.txt"


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


FORMATS = {  # name -> how a datetime.date is written
    "iso": lambda d: d.isoformat(),
    "us_slash": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",
    "us_slash_short": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}",
    "us_slash_bare": lambda d: f"{d.month}/{d.day}/{d.year}",
    "eu_dots": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    "eu_dots_short": lambda d: f"{d.day}.{d.month}.{d.year % 100:02d}",
    "month_day_year": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    "mon_day_year": lambda d: f"{MONTHS[d.month - 1][:3]} {d.day}, {d.year}",
    "day_month_year": lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    "day_mon_year": lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    "day_mon_yy": lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year % 100:02d}",
    "ordinal_of": lambda d: f"{ordinal(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    "the_ordinal_of": lambda d: f"the {ordinal(d.day)} of {MONTHS[d.month - 1]}, {d.year}",
    "month_ordinal": lambda d: f"{MONTHS[d.month - 1]} {ordinal(d.day)}, {d.year}",
    "weekday_month_day": lambda d: f"{DAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}",
    "weekday_ordinal": lambda d: f"{DAYS[d.weekday()]}, {MONTHS[d.month - 1]} {ordinal(d.day)}, {d.year}",
    "wkd_dd_mon": lambda d: f"{DAYS[d.weekday()][:3]} {d.day:02d} {MONTHS[d.month - 1][:3]} {d.year}",
    "compact": lambda d: f"{d.year}{d.month:02d}{d.day:02d}",
    "year_slash": lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",
    "dd_mon_yyyy": lambda d: f"{d.day:02d}-{MONTHS[d.month - 1][:3]}-{d.year}",
    "mon_dd_yyyy": lambda d: f"{MONTHS[d.month - 1][:3]} {d.day:02d} {d.year}",
}
CASES = (("as written", 0.6, str), ("lower", 0.2, str.lower), ("upper", 0.2, str.upper))


def corpus(seed: int, counts: tuple[int, ...]) -> list[list[tuple[str, str]]]:
    """Splits of (written date, ISO date) pairs, `counts[i]` unique strings in split i, no string in two splits; the
    same seed and counts give the same corpus on every machine (numpy's PCG64 and Python's calendar only)."""
    rng = np.random.default_rng(seed)
    span, names = (LAST - FIRST).days + 1, list(FORMATS)
    weights = np.array([w for _, w, _ in CASES])
    seen: set[str] = set()
    pairs: list[tuple[str, str]] = []
    total = sum(counts)
    if total > span * len(names) // 4:
        raise ValueError(f"{total:,} unique dates asked for; the generator writes at most about "
                         f"{span * len(names) // 4:,} without running dry")
    while len(pairs) < total:
        days = rng.integers(0, span, 4096)
        formats = rng.integers(0, len(names), 4096)
        cases = rng.choice(len(CASES), 4096, p=weights)
        for day, f, c in zip(days, formats, cases):
            date = FIRST + datetime.timedelta(days=int(day))
            text = CASES[c][2](FORMATS[names[f]](date))
            if text not in seen:
                seen.add(text)
                pairs.append((text, date.isoformat()))
                if len(pairs) == total:
                    break
    cuts = np.cumsum((0, *counts))
    return [pairs[a:b] for a, b in zip(cuts[:-1], cuts[1:])]


SOURCE_IDS = {c: i for i, c in enumerate(SOURCE_TOKENS)}
TARGET_IDS = {c: i for i, c in enumerate(TARGET_TOKENS)}


def encode_source(texts, length: int = SOURCE_LENGTH) -> np.ndarray:
    """Written dates -> int32 ids (batch, length): one per character (unknown characters -> <unk>), 0-padded at the
    end. Raises ValueError naming a text longer than `length`."""
    out = np.zeros((len(texts), length), np.int32)
    for i, text in enumerate(texts):
        if len(text) > length:
            raise ValueError(f"{text!r} is {len(text)} characters; the model reads at most {length}")
        out[i, : len(text)] = [SOURCE_IDS.get(c, 1) for c in text]
    return out


def encode_target(isos) -> np.ndarray:
    """ISO dates -> int32 ids (batch, TARGET_LENGTH): the ten characters, then <end>."""
    return np.array([[TARGET_IDS[c] for c in iso] + [TARGET_IDS[END]] for iso in isos], np.int32)


def decode_target(ids) -> str:
    """Target ids -> text, stopping at <end> (or <pad>)."""
    out = []
    for i in ids:
        token = TARGET_TOKENS[int(i)]
        if token in (END, PAD):
            break
        out.append("" if token == START else token)
    return "".join(out)


def teacher_inputs(targets: np.ndarray) -> np.ndarray:
    """What the decoder reads in training: each target shifted right behind <start>."""
    return np.concatenate([np.full((len(targets), 1), TARGET_IDS[START], np.int32), targets[:, :-1]], axis=1)


def written_dates(hp, data_dir=None, seed: int = 0, files=None):
    """The generated corpus as pipelines of ((source ids, teacher-forced target ids), target ids). `data_dir` is
    refused: the corpus is generated, never read."""
    from zoo.data.sources import array_pipeline
    from zoo.data.types import DataInfo, Datasets
    from zoo.errors import UsageError

    if data_dir:
        raise UsageError("seq2seq_dates generates its corpus from --set corpus_seed=N; it reads no --data-dir")
    counts = (hp["test_examples"], hp["val_examples"], hp["train_examples"])
    test, val, train = corpus(hp["corpus_seed"], counts)
    bs = hp["batch_size"]

    def pipeline(pairs, training):
        source, target = encode_source([s for s, _ in pairs]), encode_target([t for _, t in pairs])
        return array_pipeline((source, teacher_inputs(target)), target, batch_size=bs, training=training, seed=seed)

    info = DataInfo(
        name="written_dates", input_shape=(SOURCE_LENGTH,), class_names=TARGET_TOKENS, num_train=len(train),
        num_val=len(val), num_test=len(test), input_dtype="int32", input_range=(0.0, len(SOURCE_TOKENS) - 1.0),
        source=f"generated by zoo.data.dates from corpus_seed={hp['corpus_seed']} (days 1950-01-01..2049-12-31, "
               f"{len(FORMATS)} formats)",
        preprocessing=f"int32 character ids, shape (batch, {SOURCE_LENGTH}): line i of {SOURCE_VOCAB} is the "
                      "character of id i (0 padding at the end, 1 any other character)",
        input_kind="characters", vocab_size=len(SOURCE_TOKENS),
        text={"source_vocabulary": SOURCE_VOCAB, "target_vocabulary": TARGET_VOCAB, "pad_id": 0,
              "oov_id": SOURCE_IDS[UNKNOWN], "start_id": TARGET_IDS[START], "end_id": TARGET_IDS[END],
              "sequence_length": SOURCE_LENGTH, "target_length": TARGET_LENGTH},
        files=(SOURCE_VOCAB, TARGET_VOCAB))
    return Datasets(train=pipeline(train, True), val=pipeline(val, False), test=pipeline(test, False), info=info,
                    files={SOURCE_VOCAB: "\n".join(SOURCE_TOKENS) + "\n",
                           TARGET_VOCAB: "\n".join(TARGET_TOKENS) + "\n"})

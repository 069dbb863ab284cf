"""Train recipes with their default hyperparameters on real data and check the issues' targets.

    python -m benchmarks.train                         # the MNIST recipes + keras-io reference
    python -m benchmarks.train cnn_mnist --seeds 0 1 2  # several seeds of one recipe
    python -m benchmarks.train resnet20_cifar10 --resume  # continue a killed benchmark run
    python -m benchmarks.train lstm_imdb gru_imdb bilstm_imdb transformer_imdb --no-reference
    python -m benchmarks.train ae_mnist vae_mnist dcgan_mnist --no-reference   # the generative targets
    python -m benchmarks.train --no-reference --no-docs

Each recipe runs as `python -m zoo.train NAME --seed S` in its own process, with
the default data sources (MNIST: the bundled byte-exact copy; Fashion-MNIST:
`/usr/share/datasets/fashion-mnist` from Debian's `dataset-fashion-mnist`), except
CIFAR-10 and IMDB, read from `../shared/data/cifar10` and `../shared/data/imdb` where
those exist (the CIFAR-10 copy is JPEG-lossy: its accuracies are labelled as such
and are not CIFAR-10 benchmark numbers); `--data-dir` overrides them. The keras-io "Simple MNIST convnet" recipe is timed
on the same machine as the speed reference for cnn_mnist.

With `--resume`, run folders are named `OUT/runs/NAME-seedS` without a time stamp:
an unfinished one is continued with `zoo.train --resume`, a finished one is read
back, so a long benchmark can span several sessions. A run trained with other
hyperparameters than today's defaults or in another precision, or finished on another
machine, does not stand for this one: it is moved aside to `NAME-seedS-stale-STAMP`
(kept) and the recipe trains afresh. `out/` is not versioned; a run
that must outlive the machine it started on is committed under `benchmarks/resume/`
and continued with `--out benchmarks/resume` (then removed once its row is saved).

Results are merged into benchmarks/results/train.json by (recipe, seed, machine), so
rows measured on other machines stay, each naming its machine; train.md and the
table between the `results:train` markers in docs/results.md are rebuilt from it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import HERE, ROOT, machine, run_recipe, save

@dataclasses.dataclass(frozen=True)
class Target:
    """An issue's target for one recipe: every (metrics.json key, ">=" or "<=", bound) holds, within `minutes`."""

    checks: tuple[tuple[str, str, float], ...]
    minutes: int | None = None

    def met(self, r: dict) -> bool:
        ok = all(r[key] >= bound if op == ">=" else r[key] <= bound for key, op, bound in self.checks)
        return ok and (self.minutes is None or r["train_seconds"] <= self.minutes * 60)

    def text(self) -> str:
        parts = [f"{_label(key)} {'≥' if op == '>=' else '≤'} {_value(key, bound)}" for key, op, bound in self.checks]
        return " and ".join(parts) + (f" in ≤ {self.minutes} min" if self.minutes else "")


def accuracy(bound: float, minutes: int | None = None) -> Target:
    return Target((("test_accuracy", ">=", bound),), minutes)


TARGETS = {  # from the issues
    "cnn_mnist": accuracy(0.993),
    "cnn_fashion_mnist": accuracy(0.925),
    "mlp_mnist": accuracy(0.980),
    "cnn_cifar10": accuracy(0.80, 20),
    "resnet20_cifar10": accuracy(0.90),
    "lstm_imdb": accuracy(0.86, 20),
    "gru_imdb": accuracy(0.86, 20),
    "bilstm_imdb": accuracy(0.87, 20),
    "transformer_imdb": accuracy(0.88, 20),
    "ae_mnist": Target((("test_bce", "<=", 0.07),), 20),
    "vae_mnist": Target((("test_elbo", ">=", -95.0),), 20),
    "dcgan_mnist": Target((("test_confidence", ">=", 0.9), ("test_min_class_fraction", ">=", 0.05)), 20),
}
HEADLINE = ("test_accuracy", "test_elbo", "test_confidence", "test_bce")  # the result column shows the first present


def _label(key: str) -> str:
    return {"test_accuracy": "accuracy", "test_bce": "BCE/pixel", "test_elbo": "ELBO",
            "test_confidence": "judge confidence", "test_min_class_fraction": "smallest class"}.get(key, key)


def _value(key: str, v: float) -> str:
    if key in ("test_accuracy", "test_min_class_fraction"):
        return f"{v:.1%}"
    return f"{v:.2f} nats" if key == "test_elbo" else f"{v:.4f}"


def headline(r: dict) -> str:
    key = next(k for k in HEADLINE if k in r)
    text = f"{r[key]:.2%}" if key == "test_accuracy" else f"{_label(key)} {_value(key, r[key])}"
    if key == "test_elbo" and "test_log_likelihood" in r:
        text += f" (log-likelihood {r['test_log_likelihood']:.2f})"
    if key == "test_confidence":
        if "test_confidence_real" in r:
            text += f" (real images {r['test_confidence_real']:.4f})"
        text += f", smallest class {r['test_min_class_fraction']:.1%}, Fréchet {r['test_frechet_distance']:.2f} " \
                f"(floor {r['test_frechet_floor']:.2f})"
    return text


def run_reference(out: Path) -> dict:
    path = out / "keras_io_reference.json"
    subprocess.run([sys.executable, "-m", "benchmarks.keras_io_baseline", "--json", str(path)], check=True, cwd=ROOT)
    return json.loads(path.read_text())


def meets(r: dict) -> bool | None:
    target = TARGETS.get(r["recipe"])
    return None if target is None else target.met(r)


def table(saved: dict) -> str:
    lines = ["Default hyperparameters, with `python -m benchmarks.train` (precision `auto` unless `--precision` "
             "was given: the last column says which); rows grouped by the machine that measured them."]
    by_machine: dict[str, list[dict]] = {}
    for r in saved["results"]:
        by_machine.setdefault(r["machine"], []).append(r)
    for where, rows in by_machine.items():
        lines += ["", f"**{where}** ({', '.join(sorted({r['date'] for r in rows}))})", "",
                  "| recipe | seed | test result | target | epochs | s / epoch | train time (s) | examples/s | "
                  "precision |", "|---|---|---|---|---|---|---|---|---|"]
        for r in sorted(rows, key=lambda r: (r["recipe"], r["seed"])):
            target = TARGETS.get(r["recipe"])
            target_text = f"{target.text()} {'✅' if target.met(r) else '❌'}" if target else "–"
            note = f" ({r['data_note']})" if r.get("data_note") else ""
            epoch_s = r.get("epoch_seconds") or r["train_seconds"] / r["epochs_run"]
            lines.append(
                f"| `{r['recipe']}` | {r['seed']} | {headline(r)}{note} | {target_text} | "
                f"{r['epochs_run']} | {epoch_s:.1f} | {r['train_seconds']:.1f} | "
                f"{r['train_examples_per_second']:,.0f} | {r['precision']} |")
        reference = saved.get("references", {}).get(where)
        if reference:
            lines.append(
                f"| keras-io `mnist_convnet` (reference) | 0 | {reference['test_accuracy']:.2%} | – | "
                f"{reference['epochs']} | {reference['train_seconds'] / reference['epochs']:.1f} | "
                f"{reference['train_seconds']:.1f} | {reference['train_examples_per_second']:,.0f} | float32 |")
            cnn = [r for r in rows if r["recipe"] == "cnn_mnist"]
            if cnn:
                slowest = max(r["train_seconds"] for r in cnn)
                lines += ["", f"`cnn_mnist` trains in {slowest:.1f} s against the reference's "
                              f"{reference['train_seconds']:.1f} s ({reference['train_seconds'] / slowest:.1f}x "
                              "faster)."]
    lines += ["", "Train time is the wall time of `model.fit`'s epochs, validation included. Examples/s counts "
                  "training steps only for the recipes, the whole `fit` for the reference. Accuracies marked "
                  "JPEG-lossy were measured on the staged CIFAR-10 copy, whose pixels went through JPEG: they are "
                  "not CIFAR-10 benchmark numbers."]
    return "\n".join(lines)


def load_saved(path: Path) -> dict:
    """results/train.json, upgraded from the one-machine layout older versions wrote."""
    if not path.is_file():
        return {"results": [], "references": {}}
    saved = json.loads(path.read_text())
    if "references" not in saved:  # old layout: one machine and date for every row
        for r in saved["results"]:
            r.setdefault("machine", saved["machine"])
            r.setdefault("date", saved.get("date", ""))
        ref = saved.pop("reference", None)
        saved = {"results": saved["results"], "references": {saved["machine"]: ref} if ref else {}}
    return saved


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("recipes", nargs="*", default=["cnn_mnist", "cnn_fashion_mnist", "mlp_mnist"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=str(HERE / "out"))
    p.add_argument("--resume", action="store_true", help="continue unfinished benchmark runs (see above)")
    p.add_argument("--precision", default="auto", choices=["auto", "float32", "mixed_float16", "mixed_bfloat16"],
                   help="passed to zoo.train (default auto: bfloat16 where the CPU has it); speed targets must "
                        "hold with float32")
    p.add_argument("--no-reference", action="store_true", help="skip timing the keras-io reference")
    p.add_argument("--no-docs", action="store_true", help="do not rewrite the table in docs/results.md")
    p.add_argument("--render-only", action="store_true",
                   help="rebuild the tables from benchmarks/results/train.json without training")
    args = p.parse_args()
    saved = load_saved(HERE / "results" / "train.json")
    new = []
    if not args.render_only:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        where, details = machine()
        today = time.strftime("%Y-%m-%d")
        new = [{**run_recipe(name, seed, out, args.data_dir, args.resume, args.precision, strict=True),
                "machine": where, "date": today} for name in args.recipes for seed in args.seeds]
        saved = load_saved(HERE / "results" / "train.json")  # again: another benchmark may have saved meanwhile
        keys = {(r["recipe"], r["seed"], r["machine"]) for r in new}
        saved["results"] = [r for r in saved["results"] if (r["recipe"], r["seed"], r["machine"]) not in keys] + new
        saved.setdefault("machines", {})[where] = details
        if not args.no_reference:
            saved["references"][where] = run_reference(out)
    save("train", table(saved), None if args.render_only else saved, docs=not args.no_docs)
    return 1 if any(meets(r) is False for r in new) else 0


if __name__ == "__main__":
    sys.exit(main())

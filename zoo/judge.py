"""The judge of a GAN: a classifier of the real images that scores the generated ones (`val_frechet`,
`val_confidence`, the test class fractions).

It is trained with a registered classifier recipe, so it lives here rather than in the GAN task (tasks import
neither the registry nor the hyperparameter code); `install()` hands it to the task when `zoo` is imported.
"""

from __future__ import annotations

import time

from zoo import files, registry, runs
from zoo.hparams import resolve
from zoo.prepare import prepare
from zoo.tasks import get_task

# dataset -> (classifier recipe, its architecture pinned): the judge is a yardstick, so retuning a recipe's defaults
# for speed must not move every GAN score measured with it (these are the architectures #11's results used).
JUDGES = {
    "mnist": ("cnn_mnist", {"filters": 32, "padding": "same", "dense_units": 128, "dropout": 0.3}),
    "fashion_mnist": ("cnn_fashion_mnist", {"filters": 32, "padding": "same", "dense_units": 256, "dropout": 0.25}),
}


def judge_for(data, hp, folder=None, log=print):
    """The run's judge: `folder/judge.keras` if it is there, else a classifier trained now (and saved there)."""
    path = folder / "judge.keras" if folder is not None else None
    if path is not None and path.is_file():
        return runs.load_model(path)
    if data.info.name not in JUDGES:
        raise KeyError(f"no judge classifier for dataset {data.info.name!r}; add one to zoo.judge.JUDGES")
    name, architecture = JUDGES[data.info.name]
    judge_recipe = registry.get(name)
    jhp = resolve(name, judge_recipe.hparams, overrides={**architecture, "epochs": hp["judge_epochs"],
                                                         "batch_size": hp["batch_size"]})
    judge = prepare(judge_recipe, jhp, seed=None, data=data).model  # the GAN run seeded this process already
    log(f"training the judge ({name}, {hp['judge_epochs']} epochs) that scores the generated images ...")
    start = time.perf_counter()
    judge.fit(data.train, epochs=hp["judge_epochs"], verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    accuracy = float(judge.evaluate(data.test, verbose=0, return_dict=True)["accuracy"])
    log(f"judge test accuracy {accuracy:.4f}")
    if path is not None:
        with files.atomic_path(path) as tmp:
            judge.save(tmp)
        files.write_json(folder / "judge.json", {"recipe": name, "epochs": hp["judge_epochs"],
                                                 "test_accuracy": accuracy, "train_seconds": round(seconds, 1)})
    return judge


def install() -> None:
    """Give the GAN task its judge (called by `zoo/__init__.py`)."""
    get_task("gan").judge_for = judge_for

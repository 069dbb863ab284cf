"""Start a classifier from a finished run's weights: `python -m zoo.train RECIPE --init-from RUN_DIR`.

    python -m zoo.train cnn_cifar10 --data-dir my_photos --init-from runs/cnn_cifar10/20261124-101500
    python -m zoo.train cnn_cifar10 --data-dir my_photos --init-from RUN --set freeze_backbone=true

Every weight whose place and shape match is copied from the source run (a run of the same recipe); the classifier
head, `head`, is rebuilt when the number of classes differs. `freeze_backbone=true` trains only the head (the rest,
BatchNorm statistics included, stays as the source left it). Text runs keep the source run's vocabulary, so copied
embeddings mean the same tokens. The run's hparams.json records where its weights came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from zoo.data.sources import OWN_DATA_SUMMARY
from zoo.errors import UsageError

HEAD = "head"  # the classifier's last Dense layer (zoo.models.layers.classifier_head)


def source(run_dir, recipe) -> tuple[Path, dict[str, Any], Optional[dict[str, str]]]:
    """(folder, run, the derived files a new run must encode its inputs with) of `--init-from RUN_DIR`."""
    from zoo import runs
    from zoo.run import Run

    folder = Path(run_dir)
    opened = Run(folder)
    run, source_recipe = opened.record, opened.recipe
    if source_recipe.name != recipe.name:
        raise UsageError(f"--init-from {folder} is a run of {source_recipe.name}; start {recipe.name} from a run of "
                         f"{recipe.name} (the layers must match)")
    if not (folder / runs.MODEL).is_file():
        raise UsageError(f"--init-from {folder} has no {runs.MODEL}: it has not finished; finish it first "
                         f"(python -m zoo.train {recipe.name} --resume --run-dir {folder})")
    files = runs.read_data_files(folder, run) or {}
    carried = {name: text for name, text in files.items() if name != OWN_DATA_SUMMARY}  # the source's data, not ours
    return folder, run, carried or None


def copy_weights(model, folder: Path) -> dict[str, Any]:
    """Copy the weights of `folder`'s model.keras into `model`, layer by layer (same recipe: same layers in the same
    order); a layer whose weight shapes differ (the head, for another number of classes) keeps its fresh ones."""
    from zoo import runs

    donor = runs.load_model(folder / runs.MODEL)
    if [type(x) for x in model.layers] != [type(x) for x in donor.layers]:
        raise UsageError(f"--init-from {folder}: its model has other layers than this one; was it trained with "
                         "another depth or option? Use the same hyperparameters for the layers")
    copied, rebuilt = 0, []
    for mine, theirs in zip(model.layers, donor.layers):
        if not mine.weights:
            continue
        if [tuple(w.shape) for w in mine.weights] != [tuple(w.shape) for w in theirs.weights]:
            rebuilt.append(mine.name)
            continue
        mine.set_weights(theirs.get_weights())
        copied += len(mine.weights)
    if not copied:
        raise UsageError(f"--init-from {folder}: no layer has this model's weight shapes; was it trained with other "
                         "layer sizes? Use the same hyperparameters for the layers")
    return {"run": str(folder.resolve()), "weights_copied": copied, "layers_rebuilt": rebuilt}


def freeze_backbone(model) -> int:
    """Make every layer but the head untrainable (BatchNorm then runs in inference mode); returns the number of
    trainable weights left."""
    for layer in model.layers:
        layer.trainable = layer.name == HEAD
    return len(model.trainable_weights)

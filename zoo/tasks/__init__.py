"""Task kinds: what a recipe's task decides, so training, evaluation, resume, tuning and export stay one path.

The contract is `zoo.tasks.base.Task`: each kind says what its model outputs (`output`), which metric picks the
best epoch (`monitor`, `mode`), how to compile, evaluate, report and export it (abstract methods, documented
there), whether export may prune it and whether it trains on several replicas.

Every recipe of one kind shares its training hyperparameters and writes the same
`metrics.json` keys, so runs compare across recipes. A new kind is one more entry in
`TASKS`, never a special case in training or export.
"""

from __future__ import annotations

from zoo.tasks.classification import ClassificationTask
from zoo.tasks.reconstruction import ReconstructionTask
from zoo.tasks.gan import AdversarialTask
from zoo.tasks.generation import GenerationTask
from zoo.tasks.vae import VariationalTask

TASKS = {"classification": ClassificationTask(), "reconstruction": ReconstructionTask(), "vae": VariationalTask(),
         "gan": AdversarialTask(), "generation": GenerationTask()}


def get_task(name: str):
    return TASKS[name]

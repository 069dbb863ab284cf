"""The versions of the files apps and scripts read, and their JSON Schemas (shipped in export/schemas/).

    signature.json  format 2   export/schemas/signature.schema.json
    report.json     format 1   export/schemas/report.schema.json

A reader checks `format` first. The number goes up when a field is removed, renamed or moved, or changes its
meaning or type; adding an optional field keeps it. Every file is checked against its schema before it is
written, so what ships matches what is documented.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

SIGNATURE_FORMAT = 2
REPORT_FORMAT = 1
SCHEMAS = Path(__file__).with_name("schemas")


@lru_cache(maxsize=None)
def schema(name: str) -> dict:
    """The JSON Schema of `name` ("signature" or "report")."""
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))


def problems(document, name: str) -> list[str]:
    """Where `document` breaks `name`'s schema, one line each (empty: it conforms)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema(name))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))]


def check(document, name: str) -> None:
    """Refuse to write a file that breaks its own schema (a bug in zoo, named with the first problem)."""
    from zoo.errors import ZooError

    found = problems(document, name)
    if found:
        raise ZooError(f"the {name}.json about to be written breaks export/schemas/{name}.schema.json "
                       f"({found[0]}{' and more' if len(found) > 1 else ''}); nothing was written: please report it")

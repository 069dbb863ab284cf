"""The shape of the code (issue #30): no import circle in zoo/, export/ and tuning/, and the layering rules.

Every import statement counts, those inside functions included, and a package's `__init__` is a module of its
own: `from zoo import runs` is an edge to `zoo.runs`, `import zoo` an edge to the package `zoo`.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("zoo", "export", "tuning")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of ours it imports."""
    mods = modules()
    graph = {name: set() for name in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name in mods}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                for alias in node.names:
                    target = f"{base}.{alias.name}"
                    if target in mods:
                        graph[name].add(target)
                    elif base in mods:
                        graph[name].add(base)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected sets of more than one module (or a module importing itself), by Tarjan's method."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle():
    graph = import_graph()
    assert len(graph) > 50 and "zoo.runs" in graph["zoo.run"]  # the graph is read, not empty
    found = cycles(graph)
    assert found == [], "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_layering():
    graph = import_graph()
    for name, targets in graph.items():
        if name.startswith("zoo"):
            assert not {t for t in targets if t.split(".")[0] in ("export", "tuning")}, name
        if name.startswith("zoo.tasks"):
            assert not targets & {"zoo.registry", "zoo.hparams", "zoo.runs", "zoo.run"}, name
    for leaf in ("zoo.errors", "zoo.version"):
        assert graph[leaf] == set(), leaf
    assert graph["zoo.files"] <= {"zoo.errors"}


def _sources(*folders: str):
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def private_names_of_zoo_used(path: Path) -> list[str]:
    """`from zoo.x import _name`, and `alias._name` where alias is a zoo module imported in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    aliases, found = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.split(".")[0] == "zoo"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "zoo" and not node.level:
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__"):
                    found.append(f"from {node.module} import {a.name}")
                aliases.add(a.asname or a.name)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and node.value.id in aliases):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_private_name_finder_finds_one(tmp_path):
    sample = tmp_path / "s.py"
    sample.write_text("from zoo import reports\nfrom zoo.runs import _x\nreports._pyplot()\nreports.pyplot()\n")
    assert private_names_of_zoo_used(sample) == ["from zoo.runs import _x", "reports._pyplot"]


def test_nothing_outside_zoo_uses_a_private_name_of_zoo():
    used = {str(p.relative_to(ROOT)): private_names_of_zoo_used(p) for p in _sources("export", "tuning", "benchmarks")}
    assert {p: names for p, names in used.items() if names} == {}


def test_benchmarks_are_a_package_without_path_tricks():
    assert (ROOT / "benchmarks" / "__init__.py").is_file()
    tricks = [str(p.relative_to(ROOT)) for p in _sources("benchmarks") if "sys.path" in p.read_text(encoding="utf-8")]
    assert tricks == []


def test_modules_stay_small():
    """No module of zoo/, export/, tuning/ over 300 lines; no function of zoo/train.py over 80."""
    long = {str(p.relative_to(ROOT)): n for p in _sources(*PACKAGES)
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 300}
    assert long == {}
    tree = ast.parse((ROOT / "zoo" / "train.py").read_text(encoding="utf-8"))
    functions = {f.name: f.end_lineno - f.lineno + 1 for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}
    assert len(functions) >= 3 and max(functions.values()) < 80, functions


def test_one_variant_table():
    """A variant is named in one file of export/ (its row in export/variants.py); every list derives from it."""
    naming = [str(p.relative_to(ROOT)) for p in _sources("export") if "int16x8" in p.read_text(encoding="utf-8")]
    assert naming == ["export/variants.py"]

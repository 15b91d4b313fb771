"""The layering rule of design.md: imports only go downward.

kernels -> autograd -> nn -> (optim, data, models) -> train -> leaves (cli, filters, viz, ...).
A package may import itself and any layer below it; the core never imports a leaf.
"""
import ast
from pathlib import Path

import convzoo

ROOT = Path(convzoo.__file__).parent
RANK = {"kernels": 0, "autograd": 1, "nn": 2, "optim": 3, "data": 3, "models": 3, "train": 4}
LEAF = 5  # every other top-level module or package (cli, filters, viz, interop, ...)


def rank(part):
    return RANK.get(part, LEAF)


def imported_parts(path, root=ROOT):
    """Top-level convzoo subpackages that the file at path imports."""
    package = path.relative_to(root.parent).with_suffix("").parts[:-1]  # e.g. ('convzoo', 'nn')
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                names = (base + tuple(node.module.split("."))) if node.module else base
                targets = [names] if node.module else [base + (a.name,) for a in node.names]
            else:
                targets = [tuple(node.module.split("."))] if node.module else []
        elif isinstance(node, ast.Import):
            targets = [tuple(a.name.split(".")) for a in node.names]
        else:
            continue
        for t in targets:
            if len(t) >= 2 and t[0] == "convzoo":
                yield t[1]


def test_imports_only_go_downward():
    violations = []
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts in (("__init__",), ("__main__",)):
            continue  # the top-level package re-exports the public API
        own = parts[0]
        for target in imported_parts(path):
            if target != own and rank(target) >= rank(own) and not (rank(own) == LEAF and rank(target) == LEAF):
                violations.append(f"{path.relative_to(ROOT)} imports convzoo.{target}")
    assert not violations, "imports that go up or sideways in the layering:\n" + "\n".join(violations)


def test_rule_detects_an_upward_import(tmp_path):
    # the checker itself must be able to fail
    fake = tmp_path / "convzoo"
    (fake / "kernels").mkdir(parents=True)
    (fake / "kernels" / "bad.py").write_text("from ..nn import functional\nimport convzoo.train\n")
    assert list(imported_parts(fake / "kernels" / "bad.py", fake)) == ["nn", "train"]

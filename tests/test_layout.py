"""The package's layers import one way (the rule in ``neglr_utils/__init__.py``): a
module imports only its own layer and the layers before it, so ``core`` never touches a
run directory and nothing but the book's code depends on ``display``."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "neglr_utils"
# layer -> the layers it may import (besides itself)
LEAVES = {"stats", "progress"}  # helpers every layer may import
ALLOWED = {
    "stats": set(),
    "progress": set(),
    "core": LEAVES,
    "runs": {"core"} | LEAVES,
    "analysis": {"runs", "core"} | LEAVES,
    "display": {"analysis", "runs", "core"} | LEAVES,
    "linear": {"display"} | LEAVES,
    "cli": {"analysis", "runs", "core"} | LEAVES,
}


def layer_of(module: str) -> str:
    """``neglr_utils.runs.training`` -> ``runs``; ``neglr_utils.stats`` -> ``stats``; the
    package root and its ``__version__`` (imported by ``runs.runtime``) -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] != "__version__" else ""


def imports(path: Path, root: Path = PKG) -> set[str]:
    """The neglr_utils modules (dotted, absolute) that a source file under ``root``
    imports (a relative ``from . import x`` names ``package.x``)."""
    package = list(path.relative_to(root.parent).parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                names = [f"{mod}.{a.name}" for a in node.names] if not node.module else [mod]
            else:
                names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out |= {n for n in names if n.startswith("neglr_utils")}
    return out


def violations(root: Path = PKG) -> list[str]:
    """Every import that goes against the layer rule, as ``module -> imported``."""
    bad = []
    for path in sorted(root.rglob("*.py")):
        module = ".".join(path.relative_to(root.parent).with_suffix("").parts)
        layer = layer_of(module)
        if layer in ("", "__init__", "__main__"):
            continue
        for imp in imports(path, root):
            other = layer_of(imp)
            if other and other != layer and other not in ALLOWED[layer]:
                bad.append(f"{module} -> {imp}")
    return bad


def test_every_module_belongs_to_a_layer():
    for path in PKG.rglob("*.py"):
        module = ".".join(path.relative_to(PKG.parent).with_suffix("").parts)
        assert layer_of(module) in ALLOWED or layer_of(module) in ("__init__", "__main__"), module


def test_layers_import_one_way():
    assert violations() == []


def test_a_planted_violation_is_found(tmp_path):
    """The check can fail: core importing a run-directory module is reported."""
    pkg = tmp_path / "neglr_utils"
    (pkg / "core").mkdir(parents=True)
    (pkg / "core" / "bad.py").write_text("from ..runs.store import read_json\n")
    (pkg / "runs").mkdir()
    (pkg / "runs" / "fine.py").write_text("from ..core.meta import adapt\nfrom . import store\n")
    assert violations(pkg) == ["neglr_utils.core.bad -> neglr_utils.runs.store"]


@pytest.mark.parametrize("name", ["runs.training", "core.meta", "display.tables"])
def test_imports_resolve_relative_names(name):
    path = PKG / (name.replace(".", "/") + ".py")
    assert all(i.startswith("neglr_utils.") for i in imports(path))

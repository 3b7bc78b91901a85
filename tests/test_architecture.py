"""The shape rules of the package (ARCHITECTURE.md): small modules and functions, no private names crossing
modules, imports at the top except where they keep an optional dependency optional."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "posekit"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 100
#: process_video composes the stages; it must read as a composition.
MAX_LINES = {"process_video": 60}
#: Imported inside functions on purpose: optional dependencies (posekit runs without them) and heavy ones that a
#: command which does not need them must not pay for at start-up.
OPTIONAL = {"ray", "onnxruntime", "openvino", "pycocotools", "tflite", "ai_edge_litert", "tflite_runtime",
            "streamlit", "nncf", "opensim", "matplotlib", "fcntl"}


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _rel(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


def test_the_rules_see_the_package():
    names = {_rel(p) for p in _modules()}
    assert "posekit/estimator.py" in names and len(names) > 20


def test_no_module_is_too_long():
    long = {_rel(p): n for p in _modules() if (n := len(p.read_text(encoding="utf-8").splitlines())) >
            MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_is_too_long():
    long = {}
    for path in _modules():
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                limit = MAX_LINES.get(node.name, MAX_FUNCTION_LINES)
                n = node.end_lineno - node.lineno + 1
                if n > limit:
                    long[f"{_rel(path)}:{node.lineno} {node.name}"] = n
    assert not long, f"functions over their limit ({MAX_FUNCTION_LINES} lines, {MAX_LINES}): {long}"


def test_process_video_is_a_composition():
    tree = _tree(PACKAGE / "video.py")
    assert any(isinstance(n, ast.FunctionDef) and n.name == "process_video" for n in tree.body)


def _imports(tree: ast.Module):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield node, node.module or "", [a.name for a in node.names], node.level
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield node, a.name, [], 0


def test_no_private_name_is_imported_from_another_module():
    private = []
    for path in _modules():
        for node, module, names, level in _imports(_tree(path)):
            internal = level > 0 or module.split(".")[0] == "posekit"
            if not internal:
                continue
            for name in names:
                if name.startswith("_") and not name.startswith("__"):
                    private.append(f"{_rel(path)}:{node.lineno} {name} from {'.' * level}{module}")
    assert not private, f"private names imported across modules: {private}"


def _function_level_imports(path: Path):
    tree = _tree(path)
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.ImportFrom):
                yield node.lineno, "." * node.level + (node.module or ""), node.level
            elif isinstance(node, ast.Import):
                for a in node.names:
                    yield node.lineno, a.name, 0


def test_imports_inside_functions_only_keep_optional_dependencies_optional():
    found = set()
    for path in _modules():
        for line, module, level in _function_level_imports(path):
            top = module.lstrip(".").split(".")[0]
            if level == 0 and top in OPTIONAL:
                continue
            found.add(f"{_rel(path)}:{line} {module}")
    assert not found, f"{len(found)} function-level imports that no optional dependency needs: {sorted(found)}"


@pytest.mark.parametrize("module", ["posekit"])
def test_the_package_imports_without_its_optional_dependencies(module):
    """Importing posekit loads none of the optional engines (a user without them can still run it)."""
    import subprocess
    import sys

    code = ("import sys, posekit, posekit.cli, posekit.video, posekit.compare, posekit.batch\n"
            "bad = sorted(m for m in ('ray', 'onnxruntime', 'streamlit', 'pycocotools') if m in sys.modules)\n"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_is_clean():
    """ruff (configured in pyproject.toml) finds nothing in the package, the app, the tests or the benches."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (requirements-dev.txt installs it)")
    r = subprocess.run([ruff, "check", "--no-cache", "."], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]

"""Data flows one way: geodata -> stations -> coverage -> samples / web / cli.

Every import statement of every module (including the lazy ones inside functions) is read with
``ast``; a lower layer importing a higher one fails the test with the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Layer of each top-level part of the package, lowest first.  A module may import its own layer
#: and the layers below it.
LAYERS: dict[str, int] = {
    "geodata": 0, "config": 0,
    "stations": 1,
    "coverage": 2,
    "samples": 3,
    "web": 4, "app": 4, "cli": 5,
}


def _part(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "yizhan" or len(parts) < 2:
        return None
    return parts[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute yizhan module) of every import in ``path``."""
    rel = path.relative_to(ROOT).with_suffix("")
    package = ["yizhan", *rel.parts[:-1]]   # a module and a package __init__ alike
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("yizhan")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:
                    out += [(node.lineno, f"{target}.{a.name}") for a in node.names]
                    continue
            else:
                target = node.module or ""
            if target.startswith("yizhan"):
                out.append((node.lineno, target))
    return out


def _sources() -> list[Path]:
    files = []
    for part in LAYERS:
        folder = ROOT / part
        files += sorted(folder.rglob("*.py")) if folder.is_dir() else [ROOT / f"{part}.py"]
    return [f for f in files if f.is_file()]


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_upward_import(path: Path) -> None:
    own = path.relative_to(ROOT).parts[0].removesuffix(".py")
    bad = []
    for line, module in _imports(path):
        part = _part(module)
        if part in LAYERS and LAYERS[part] > LAYERS[own]:
            bad.append(f"{path.relative_to(ROOT)}:{line} imports {module} ({part} is above {own})")
    assert not bad, "\n".join(bad)


def test_the_scan_sees_relative_and_lazy_imports() -> None:
    """The scanner must resolve relative imports inside functions (a scanner that finds nothing
    would pass every file)."""
    found = dict((m, line) for line, m in _imports(ROOT / "stations" / "validate.py"))
    assert "yizhan.geodata.boundaries" in {m.rsplit(".", 0)[0] for m in found} or \
        any(m.startswith("yizhan.geodata") for m in found)
    assert any(m == "yizhan.geodata.sphere" for m in found)
    web = {m for _, m in _imports(ROOT / "web" / "api.py")}
    assert any(m.startswith("yizhan.stations") for m in web)

"""The project's own rules, checked on the source: one loop, layering, no aiohttp."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP_CODE = [*ROOT.joinpath("research").rglob("*.py"), *ROOT.joinpath("pages").glob("*.py")]
APP_CODE.append(ROOT / "streamlit_app.py")
LOOP_OWNER = ROOT / "research" / "runtime" / "loop_runner.py"
FORBIDDEN_CALLS = {"run_until_complete", "new_event_loop", "run_in_executor", "sleep"}


def calls(path: Path) -> list[tuple[str, str]]:
    """Return (object, attribute) for every attribute call in a module, e.g. ('asyncio', 'run')."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else ""
            found.append((name, node.func.attr))
    return found


def imports(path: Path) -> set[str]:
    """Return the top-level names of every module a file imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_aiohttp_is_not_installed() -> None:
    # Its mere presence switches google-genai's async transport and retry behaviour.
    assert importlib.util.find_spec("aiohttp") is None


def test_no_code_nests_or_blocks_an_event_loop() -> None:
    offenders = []
    for path in APP_CODE:
        for owner, attr in calls(path):
            if (owner, attr) == ("asyncio", "run") or (owner, attr) == ("time", "sleep"):
                offenders.append(f"{path.relative_to(ROOT)}: {owner}.{attr}")
            elif attr in FORBIDDEN_CALLS - {"sleep"} and path != LOOP_OWNER:
                offenders.append(f"{path.relative_to(ROOT)}: {owner}.{attr}")
        if {"nest_asyncio", "requests"} & imports(path):
            offenders.append(f"{path.relative_to(ROOT)}: imports nest_asyncio or requests")
    assert offenders == []


def test_only_the_cli_enters_a_loop_with_anyio_run() -> None:
    entering = sorted(
        str(path.relative_to(ROOT)) for path in APP_CODE if ("anyio", "run") in calls(path)
    )
    assert entering == ["research/cli.py"]


def test_research_imports_streamlit_only_in_ui() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in ROOT.joinpath("research").rglob("*.py")
        if "streamlit" in imports(path) and "ui" not in path.relative_to(ROOT).parts
    ]
    assert offenders == []


def research_imports(path: Path) -> set[str]:
    """Return every `research.*` module a file imports, by full dotted name."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("research")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("research"):
                names.add(node.module)
    return names


def modules_under(folder: str) -> list[Path]:
    """Return the Python files of one research/ subpackage."""
    return sorted(ROOT.joinpath("research", folder).rglob("*.py"))


def offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    """Return `file -> module` for each import from `folder` into a forbidden package."""
    found = []
    for path in modules_under(folder):
        for name in research_imports(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(ROOT)} -> {name}")
    return sorted(found)


UPPER_LAYERS = ("research.ui", "research.runtime", "research.pipeline", "research.cli")


def test_text_imports_neither_net_nor_engines_nor_anything_above() -> None:
    assert (
        offenders("text", ("research.net", "research.engines", "research.store", *UPPER_LAYERS))
        == []
    )


def test_net_never_imports_engines_or_anything_above() -> None:
    assert offenders("net", ("research.engines", "research.store", *UPPER_LAYERS)) == []


def test_engines_import_nothing_above_them() -> None:
    assert offenders("engines", ("research.store", *UPPER_LAYERS)) == []


def test_pipeline_does_not_import_runtime_or_ui() -> None:
    assert offenders("pipeline", ("research.runtime", "research.ui", "research.cli")) == []


def test_runtime_does_not_import_ui() -> None:
    assert offenders("runtime", ("research.ui", "research.cli")) == []


def test_no_two_modules_share_a_name() -> None:
    names: dict[str, list[str]] = {}
    for path in ROOT.joinpath("research").rglob("*.py"):
        if path.name != "__init__.py":
            names.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}


def test_a_single_machine_setup_loads_neither_psycopg_nor_procrastinate(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    script = (
        "import sys\n"
        "import research, research.cli, research.ui.resources, research.ui.report_view\n"
        "from research.cli import main\n"
        "assert main(['history']) == 0\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'psycopg', 'procrastinate'})\n"
        "print(','.join(loaded))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESEARCH_")}
    env["RESEARCH_DB"] = str(tmp_path / "runs.sqlite3")
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""

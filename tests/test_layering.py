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

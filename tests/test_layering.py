"""The project's own rules, checked on the source: one loop, layering, no aiohttp."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from typing import get_args

from research.models import RunStatus

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


URLS = "research.net.urls"  # pure functions: the one net module the layers below may use


def test_text_imports_neither_net_nor_engines_nor_anything_above() -> None:
    found = offenders("text", ("research.net", "research.engines", "research.store", *UPPER_LAYERS))
    assert [line for line in found if not line.endswith(f"-> {URLS}")] == []


def test_the_url_module_and_models_stand_on_errors_alone() -> None:
    """models.py and net/urls.py sit below everything, so text/ and models may use them."""
    urls = ROOT / "research" / "net" / "urls.py"
    assert research_imports(urls) == {"research.errors"}
    assert research_imports(ROOT / "research" / "models.py") <= {"research.errors", URLS}
    assert ROOT.joinpath("research", "net", "__init__.py").read_text().strip() == ""


def module_name(path: Path) -> str:
    """Return the dotted module name of a file under research/."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def cycles(paths: list[Path]) -> list[list[str]]:
    """Return the import cycles among `paths` (TYPE_CHECKING imports count: they are a design)."""
    graph = {module_name(path): research_imports(path) for path in paths}
    found: list[list[str]] = []

    def visit(name: str, trail: list[str]) -> None:
        for target in sorted(graph.get(name, set()) & graph.keys()):
            if target in trail:
                cycle = trail[trail.index(target) :]
                if min(cycle) == cycle[0]:  # each cycle once, from its smallest member
                    found.append(cycle)
            else:
                visit(target, [*trail, target])

    for name in sorted(graph):
        visit(name, [name])
    return found


def test_net_modules_import_each_other_without_cycles() -> None:
    assert cycles(modules_under("net")) == []


def test_no_research_module_is_part_of_an_import_cycle() -> None:
    modules = [p for p in ROOT.joinpath("research").rglob("*.py") if p.name != "__init__.py"]
    assert cycles(modules) == []


def test_only_the_url_module_reads_hosts_out_of_urls() -> None:
    """Hosts, ports and origins come from research.net.urls, so every caller agrees on them."""
    readers = []
    for path in APP_CODE:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr in ("hostname", "netloc"):
                readers.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
    urls = "research/net/urls.py:"
    assert [line for line in readers if not line.startswith(urls)] == []
    assert readers  # the scan sees the URL module's own reads


def test_net_never_imports_engines_or_anything_above() -> None:
    assert offenders("net", ("research.engines", "research.store", *UPPER_LAYERS)) == []


def test_engines_import_nothing_above_them() -> None:
    assert offenders("engines", ("research.store", *UPPER_LAYERS)) == []


def test_pipeline_does_not_import_runtime_or_ui() -> None:
    assert offenders("pipeline", ("research.runtime", "research.ui", "research.cli")) == []


def test_runtime_does_not_import_ui() -> None:
    assert offenders("runtime", ("research.ui", "research.cli")) == []


def test_every_module_the_readme_names_exists() -> None:
    """README's "How it is built" names real files (brace groups expanded), so a move updates it."""
    section = ROOT.joinpath("README.md").read_text().split("## How it is built", 1)[1]
    named = set()
    for folder, group in re.findall(r"`(research/[\w/]*)\{([\w,]+)\}\.py`", section):
        named |= {f"{folder}{name}.py" for name in group.split(",")}
    named |= set(re.findall(r"`(research/[\w/]+\.py)`", section))
    assert len(named) > 40
    assert sorted(name for name in named if not ROOT.joinpath(name).is_file()) == []


def test_no_two_modules_share_a_name() -> None:
    names: dict[str, list[str]] = {}
    for path in ROOT.joinpath("research").rglob("*.py"):
        if path.name != "__init__.py":
            names.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}


def test_sets_of_run_statuses_are_named_once_in_models() -> None:
    """`status in ("pending", "running")` elsewhere is a copy of ACTIVE_STATUSES waiting to drift."""
    statuses = set(get_args(RunStatus))
    copies = []
    for path in APP_CODE:
        if path == ROOT / "research" / "models.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Tuple | ast.List | ast.Set) and len(node.elts) > 1:
                words = [e.value for e in node.elts if isinstance(e, ast.Constant)]
                if len(words) == len(node.elts) and set(words) <= statuses:
                    copies.append(f"{path.relative_to(ROOT)}:{node.lineno} {words}")
    assert copies == []


PAGE_MODULES = ("research.ui", "research.models", "research.errors")


def test_pages_import_only_ui_models_and_errors() -> None:
    found = []
    for path in [*ROOT.joinpath("pages").glob("*.py"), ROOT / "streamlit_app.py"]:
        for name in research_imports(path):
            if not any(name == m or name.startswith(m + ".") for m in PAGE_MODULES):
                found.append(f"{path.relative_to(ROOT)} -> {name}")
    assert sorted(found) == []


MAX_FUNCTION_LINES = 60
# Declarative tables written as one function body (a list of sheets); nothing else may be long.
LONG_TABLES = {"research/export.py:workbook_sheets"}


def test_no_function_is_longer_than_sixty_lines() -> None:
    long = []
    for path in APP_CODE:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                name = f"{path.relative_to(ROOT)}:{node.name}"
                if lines > MAX_FUNCTION_LINES and name not in LONG_TABLES:
                    long.append(f"{name} ({lines} lines)")
    assert sorted(long) == []


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

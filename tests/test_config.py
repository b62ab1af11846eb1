"""Settings from the environment: one scheme for every field, ConfigError for a bad value, README."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from streamlit.testing.v1 import AppTest

from research.config import Settings, env_name, env_names
from research.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "streamlit_app.py")
CONTRACT_NAMES = {
    "gemini_api_key": "GEMINI_API_KEY",
    "gemini_model": "GEMINI_MODEL",
    "gemini_base_url": "GEMINI_BASE_URL",
    "gemini_api_version": "GEMINI_API_VERSION",
    "db_path": "RESEARCH_DB",
    "allow_private_hosts": "RESEARCH_ALLOW_PRIVATE_HOSTS",
    "allowed_networks": "RESEARCH_ALLOWED_NETWORKS",
    "database_url": "RESEARCH_DATABASE_URL",
    "queue": "RESEARCH_QUEUE",
}


def readme_variables() -> list[str]:
    """Return the variables the README's configuration table lists, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([A-Z_]+)` \|", section, re.M)


def test_the_readme_table_lists_every_variable_once() -> None:
    listed = readme_variables()
    assert len(listed) == len(set(listed))
    assert set(listed) == set(env_names())


def test_contract_names_are_kept_and_the_rest_follow_one_prefix() -> None:
    for field, name in CONTRACT_NAMES.items():
        assert env_name(field) == name
    for field in set(Settings.model_fields) - set(CONTRACT_NAMES):
        assert env_name(field) == "RESEARCH_" + field.upper()


def test_every_field_is_read_from_the_environment() -> None:
    env = {
        "RESEARCH_PAGE_TIMEOUT": "12.5",
        "RESEARCH_BRIEF_CONCURRENCY": "2",
        "RESEARCH_GEMINI_PRICES": '{"gemini-x": [1, 2]}',
        "RESEARCH_DATABASE_URL": "postgresql://u:pw@127.0.0.1/runs",
        "RESEARCH_QUEUE": "true",
        "GEMINI_MODEL": "gemini-2.5-pro",
    }
    settings = Settings.from_env(env, secrets_file=None)
    assert settings.page_timeout == 12.5 and settings.brief_concurrency == 2
    assert settings.gemini_prices == {"gemini-x": (1.0, 2.0)}
    assert settings.queue is True and settings.gemini_model == "gemini-2.5-pro"
    assert settings.database_url is not None and "pw" not in repr(settings)
    # Settings(...) takes what it is given and nothing from the environment.
    assert Settings().page_timeout == 30.0


def changed_value(info: FieldInfo) -> tuple[str, object]:
    """Return an environment value for a field that differs from its default, and its value."""
    default = info.get_default(call_default_factory=True)
    kind = info.annotation
    if kind is bool:
        return str(not default).lower(), not default
    if kind in (int, float):
        return str(default + 1), default + 1
    if kind is Path:
        return "/tmp/elsewhere.sqlite3", Path("/tmp/elsewhere.sqlite3")
    if isinstance(default, list):
        return "10.1.0.0/16 192.168.0.0/24", ["10.1.0.0/16", "192.168.0.0/24"]
    if isinstance(default, dict):
        return '{"gemini-z": [3, 4]}', {"gemini-z": (3.0, 4.0)}
    return "changed-value", "changed-value"  # str, str | None and SecretStr | None


@pytest.mark.parametrize("name", sorted(env_names()))
def test_each_field_is_set_by_its_own_variable(name: str) -> None:
    info = env_names()[name]
    field = next(f for f, i in Settings.model_fields.items() if i is info)
    text, expected = changed_value(info)
    env = {name: text}
    if field == "queue":  # the queue needs its database
        env["RESEARCH_DATABASE_URL"] = "postgresql://u@127.0.0.1/runs"
    value = getattr(Settings.from_env(env, secrets_file=None), field)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    assert value == expected != info.get_default(call_default_factory=True)


def test_the_secrets_file_fills_in_what_the_environment_does_not(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('RESEARCH_PAGE_TIMEOUT = 7\nGEMINI_MODEL = "from-file"\n[other]\nx = 1\n')
    settings = Settings.from_env({"GEMINI_MODEL": "from-env"}, secrets_file=secrets)
    assert settings.page_timeout == 7.0 and settings.gemini_model == "from-env"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("RESEARCH_ALLOWED_NETWORKS", "intranet", "'intranet' is not a network"),
        ("RESEARCH_ALLOW_PRIVATE_HOSTS", "maybe", "boolean"),
        ("RESEARCH_PAGE_TIMEOUT", "soon", "number"),
        ("RESEARCH_GEMINI_PRICES", "{oops", "RESEARCH_GEMINI_PRICES"),
    ],
)
def test_a_bad_value_is_one_sentence_naming_the_variable(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({name: value}, secrets_file=None)
    message = str(raised.value)
    assert message.startswith(f"{name} is not valid: ") and says in message
    assert "\n" not in message and message.endswith(".")


def test_the_queue_without_its_database_is_one_sentence() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"RESEARCH_QUEUE": "1"}, secrets_file=None)
    assert str(raised.value) == "RESEARCH_QUEUE needs RESEARCH_DATABASE_URL (PostgreSQL)."


def test_the_cli_prints_one_line_and_exits_two_on_a_bad_setting(tmp_path: Path) -> None:
    env = {**os.environ, "RESEARCH_DB": str(tmp_path / "runs.sqlite3")}
    env["RESEARCH_ALLOWED_NETWORKS"] = "intranet"
    done = subprocess.run(
        [sys.executable, "-m", "research", "history"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: RESEARCH_ALLOWED_NETWORKS is not valid: 'intranet' is not a network like "
        "10.0.0.0/8."
    ]


@pytest.fixture
def broken_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[AppTest]:
    """The dashboard started with an invalid RESEARCH_PAGE_TIMEOUT."""
    monkeypatch.setenv("RESEARCH_DB", str(tmp_path / "runs.sqlite3"))
    monkeypatch.setenv("RESEARCH_PAGE_TIMEOUT", "soon")
    st.cache_resource.clear()
    yield AppTest.from_file(APP, default_timeout=30)
    st.cache_resource.clear()


@pytest.mark.parametrize("page", ["pages/discover.py", "pages/history.py", "pages/settings.py"])
def test_the_dashboard_shows_one_error_for_a_bad_setting(broken_app: AppTest, page: str) -> None:
    broken_app.run()
    if page != "pages/discover.py":
        broken_app.switch_page(page).run()
    assert not broken_app.exception
    assert [e.value for e in broken_app.error] == [
        "RESEARCH_PAGE_TIMEOUT is not valid: Input should be a valid number, unable to parse "
        "string as a number."
    ]

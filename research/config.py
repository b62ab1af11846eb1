"""Settings: the one place configuration is read (environment, then .streamlit/secrets.toml).

Every field is read from the environment variable `RESEARCH_<FIELD NAME>` (for example
`RESEARCH_PAGE_TIMEOUT=20`), except the five older names kept as they were: `GEMINI_API_KEY`,
`GEMINI_MODEL`, `GEMINI_BASE_URL`, `GEMINI_API_VERSION` and `RESEARCH_DB`. Lists take commas or
spaces, mappings take JSON. A value that does not fit its field is a ConfigError naming the variable.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from pydantic_settings.sources.utils import parse_env_vars

from research.errors import ConfigError
from research.models import EngineName

VERSION = "0.1.0"
PROJECT_URL = "https://github.com/research-lab/research-lab"
USER_AGENT = f"ResearchLab/{VERSION} (+{PROJECT_URL})"
ENV_PREFIX = "RESEARCH_"
SECRETS_FILE = Path(".streamlit/secrets.toml")
# Seconds a page waits for a quick answer from the loop, for an export to be built and for a
# draft to be read (a URL fetched). (Store calls wait research.store.WAIT_SECONDS: longer than
# the database's own lock wait.)
UI_WAIT_SECONDS = 10.0
EXPORT_WAIT_SECONDS = 120.0
GRADE_WAIT_SECONDS = 60.0


def default_db_path() -> Path:
    """Return the per-user default location of the run history database."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "research-lab" / "runs.sqlite3"


def _blank(key: SecretStr | None) -> bool:
    return key is None or not key.get_secret_value().strip()


class _MappingEnvSource(EnvSettingsSource):
    """Environment variables read from a given mapping (os.environ merged with secrets.toml)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._given = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._given, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


class Settings(BaseSettings):
    """Configuration for one process: keys, endpoints, timeouts and limits."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_ignore_empty=True,
        extra="ignore",
        validate_by_name=True,
        validate_by_alias=True,
    )

    # Gemini
    gemini_api_key: SecretStr | None = Field(
        default=None, validation_alias="GEMINI_API_KEY", description="enables the Gemini engine"
    )
    gemini_model: str = Field(
        default="gemini-3-flash-preview", validation_alias="GEMINI_MODEL", description="model name"
    )
    gemini_base_url: str | None = Field(
        default=None,
        validation_alias="GEMINI_BASE_URL",
        description="another endpoint for the SDK (the tests' fake server)",
    )
    gemini_api_version: str = Field(
        default="v1beta", validation_alias="GEMINI_API_VERSION", description="API version"
    )
    gemini_timeout: float = Field(default=60.0, description="seconds per Gemini call")
    gemini_concurrency: int = Field(default=8, description="Gemini calls at once")
    gemini_rpm: int = Field(
        default=120, description="Gemini requests per RESEARCH_GEMINI_RPM_PERIOD"
    )
    gemini_max_attempts: int = Field(default=4, description="tries per Gemini call")
    gemini_retry_budget: float = Field(default=60.0, description="seconds of Gemini retries")
    gemini_breaker_threshold: int = Field(default=5, description="failures that open the breaker")
    gemini_breaker_cooldown: float = Field(
        default=60.0, description="seconds the breaker stays open"
    )
    gemini_breaker_timeouts: int = Field(
        default=2, description="Gemini timeouts in a row that open the breaker"
    )
    gemini_rpm_period: float = Field(
        default=60.0, description="seconds RESEARCH_GEMINI_RPM applies to"
    )
    gemini_backoff_initial: float = Field(default=1.0, description="first Gemini retry wait, s")
    gemini_backoff_max: float = Field(default=20.0, description="longest Gemini retry wait, s")
    gemini_stream_timeout: float = Field(default=180.0, description="seconds per streamed brief")
    gemini_resolve_timeout: float = Field(default=10.0, description="seconds to resolve sources")
    gemini_resolve_concurrency: int = Field(default=8, description="sources resolved at once")
    gemini_prices: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {
            "gemini-3-pro": (2.0, 12.0),
            "gemini-3-flash": (0.5, 3.0),
            "gemini-2.5-pro": (1.25, 10.0),
            "gemini-2.5-flash": (0.3, 2.5),
            "gemini-2.0-flash": (0.1, 0.4),
        },
        description="USD per million tokens, [input, output], by model name prefix (JSON)",
    )
    gemini_engines_kept: int = Field(default=4, description="Gemini keys kept open at once")
    # Network
    allow_private_hosts: bool = Field(
        default=False, description="allows loopback/private hosts (never cloud metadata)"
    )
    allowed_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="CIDR networks fetched even without private hosts allowed "
        "(commas or spaces, e.g. 10.1.0.0/16); never cloud metadata",
    )
    user_agent: str = Field(default=USER_AGENT, description="User-Agent of every request")
    connect_timeout: float = Field(default=10.0, description="seconds to connect")
    read_timeout: float = Field(default=15.0, description="seconds between bytes")
    page_timeout: float = Field(default=30.0, description="seconds per page")
    max_body_bytes: int = Field(default=5 * 1024 * 1024, description="largest page, bytes")
    max_redirects: int = Field(default=5, description="redirect hops followed")
    per_host_concurrency: int = Field(default=4, description="requests per host at once")
    global_connections: int = Field(default=64, description="connections across all runs")
    politeness_delay: float = Field(default=0.0, description="seconds between requests to a host")
    crawl_time_budget: float = Field(default=120.0, description="seconds per site crawl")
    fetch_max_attempts: int = Field(default=3, description="tries per page")
    fetch_retry_budget: float = Field(default=20.0, description="seconds of page retries")
    retry_after_cap: float = Field(default=10.0, description="longest Retry-After honoured, s")
    fetch_backoff: float = Field(default=0.5, description="first page retry wait, s")
    # Pipeline
    competitor_crawls: int = Field(default=3, description="competitor sites crawled at once")
    found_competitors_crawled: int = Field(
        default=3, description="competitors found by the engine that are crawled"
    )
    competitors_found: int = Field(default=8, description="competitors an engine is asked for")
    brief_concurrency: int = Field(default=3, description="briefs written at once")
    # Work off the loop
    worker_threads: int = Field(default=4, description="threads for SQLite and file work")
    worker_processes: int = Field(default=0, description="CPU worker processes; 0 = one per core")
    # Storage
    db_path: Path = Field(
        default_factory=default_db_path,
        validation_alias="RESEARCH_DB",
        description="run history database (default ~/.local/share/research-lab/runs.sqlite3)",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL run history shared by replicas and workers (postgresql://...)",
    )
    queue: bool = Field(default=False, description="enqueue runs for workers (needs database_url)")
    lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="seconds a run's owner may stay silent before it counts as gone (PostgreSQL)",
    )
    # Jobs and the loop
    job_retention: int = Field(default=50, description="finished runs a dashboard keeps in memory")
    start_timeout: float = Field(default=30.0, description="seconds to open shared services")
    shutdown_timeout: float = Field(
        default=10.0, description="seconds to stop runs and close services on shutdown"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Settings(...) takes only what it is given; from_env() is what reads the environment."""
        return (init_settings,)

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        return value.replace(",", " ").split() if isinstance(value, str) else value

    @field_validator("allowed_networks")
    @classmethod
    def _check_networks(cls, values: list[str]) -> list[str]:
        networks = []
        for value in values:
            try:
                networks.append(str(ipaddress.ip_network(value.strip(), strict=False)))
            except ValueError:
                raise ValueError(f"{value!r} is not a network like 10.0.0.0/8") from None
        return networks

    @model_validator(mode="after")
    def _check_queue(self) -> Settings:
        if self.queue and self.database_url is None:
            raise ValueError(f"{env_name('queue')} needs {env_name('database_url')} (PostgreSQL)")
        return self

    @property
    def has_gemini_key(self) -> bool:
        """Whether a Gemini key is configured."""
        return not _blank(self.gemini_api_key)

    def gemini_key(self, session_key: SecretStr | None = None) -> SecretStr | None:
        """Return the Gemini key in force: a browser session's own key wins over the configured one."""
        return self.gemini_api_key if _blank(session_key) else session_key

    def resolve_engine(
        self, requested: EngineName | str, session_key: SecretStr | None = None
    ) -> str:
        """Return the engine a request for `requested` ("local", "gemini", "auto") gets."""
        if requested == "auto":
            return "local" if _blank(self.gemini_key(session_key)) else "gemini"
        return requested

    def allow_private(self, asked: bool) -> bool:
        """Whether a run (or one fetch) may reach private and loopback hosts: asked or set."""
        return asked or self.allow_private_hosts

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, secrets_file: Path | None = SECRETS_FILE
    ) -> Settings:
        """Build settings from environment variables, falling back to the secrets file.

        Raises ConfigError naming the variable when a value does not fit.
        """
        given = {**_read_secrets(secrets_file), **(os.environ if env is None else env)}
        try:
            return cls(**_MappingEnvSource(cls, given)())
        except SettingsError as exc:
            field = re.search(r'field "(\w+)"', str(exc))
            name = env_name(field.group(1)) if field else "A setting"
            raise ConfigError(f"{name} is not valid: {exc.__cause__ or exc}.") from exc
        except ValidationError as exc:
            raise ConfigError(_first_problem(exc)) from exc


def env_name(field: str) -> str:
    """Return the environment variable that sets a Settings field."""
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else ENV_PREFIX + field.upper()


def env_names() -> dict[str, FieldInfo]:
    """Return every environment variable Settings reads, with its field."""
    return {env_name(name): info for name, info in Settings.model_fields.items()}


def _read_secrets(path: Path | None) -> dict[str, str]:
    """Return the scalar entries of a secrets.toml file as strings (none if there is no file)."""
    if path is None or not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} could not be read: {exc}.") from exc
    return {key: str(value) for key, value in data.items() if not isinstance(value, dict | list)}


def _first_problem(exc: ValidationError) -> str:
    """Return one sentence naming the variable of the first invalid value."""
    first = exc.errors()[0]
    loc = str(first["loc"][0]) if first["loc"] else ""
    field = next(
        (
            name
            for name, info in Settings.model_fields.items()
            if loc in (name, info.validation_alias)
        ),
        None,
    )
    message = str(first["msg"]).removeprefix("Value error, ").rstrip(".")
    if not loc:  # a rule between settings names its variables itself
        return f"{message}."
    name = env_name(field) if field else loc
    return f"{name} is not valid: {message}."

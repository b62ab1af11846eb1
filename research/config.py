"""Settings: the one place configuration is read (environment, then .streamlit/secrets.toml)."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator

VERSION = "0.1.0"
PROJECT_URL = "https://github.com/research-lab/research-lab"
USER_AGENT = f"ResearchLab/{VERSION} (+{PROJECT_URL})"


def default_db_path() -> Path:
    """Return the per-user default location of the run history database."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "research-lab" / "runs.sqlite3"


class Settings(BaseModel):
    """Configuration for one process: keys, endpoints, timeouts and limits."""

    # Gemini
    gemini_api_key: SecretStr | None = None
    gemini_model: str = "gemini-3-flash-preview"
    gemini_base_url: str | None = None
    gemini_api_version: str = "v1beta"
    gemini_timeout: float = Field(default=60.0, description="seconds per Gemini call")
    gemini_concurrency: int = 8
    gemini_rpm: int = 120
    gemini_max_attempts: int = 4
    gemini_retry_budget: float = 60.0
    gemini_breaker_threshold: int = 5
    gemini_breaker_cooldown: float = 60.0
    gemini_rpm_period: float = Field(default=60.0, description="seconds gemini_rpm applies to")
    gemini_backoff_initial: float = 1.0
    gemini_backoff_max: float = 20.0
    gemini_stream_timeout: float = Field(default=180.0, description="seconds per streamed brief")
    gemini_resolve_timeout: float = Field(default=10.0, description="seconds to resolve sources")
    gemini_resolve_concurrency: int = 8
    # USD per million tokens, (input, output), by model name prefix
    gemini_prices: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {
            "gemini-3-pro": (2.0, 12.0),
            "gemini-3-flash": (0.5, 3.0),
            "gemini-2.5-pro": (1.25, 10.0),
            "gemini-2.5-flash": (0.3, 2.5),
            "gemini-2.0-flash": (0.1, 0.4),
        }
    )
    # Network
    allow_private_hosts: bool = False
    allowed_networks: list[str] = Field(
        default_factory=list,
        description="CIDR networks fetched even when private hosts are not allowed (an intranet); "
        "RESEARCH_ALLOWED_NETWORKS, separated by commas or spaces",
    )
    user_agent: str = USER_AGENT
    connect_timeout: float = 10.0
    read_timeout: float = 15.0
    page_timeout: float = 30.0
    max_body_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5
    per_host_concurrency: int = 4
    global_connections: int = 64
    politeness_delay: float = 0.0
    crawl_time_budget: float = 120.0
    fetch_max_attempts: int = 3
    fetch_retry_budget: float = 20.0
    retry_after_cap: float = 10.0
    fetch_backoff: float = Field(default=0.5, description="first retry wait, seconds")
    # Work off the loop
    worker_threads: int = 4
    # Storage
    db_path: Path = Field(default_factory=default_db_path)
    database_url: SecretStr | None = Field(
        default=None, description="PostgreSQL run history shared by replicas and workers"
    )
    queue: bool = Field(default=False, description="enqueue runs for workers (needs database_url)")
    lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="seconds a run's owner may stay silent before it counts as gone (PostgreSQL)",
    )
    # Jobs
    job_retention: int = 50

    @field_validator("allowed_networks")
    @classmethod
    def _check_networks(cls, values: list[str]) -> list[str]:
        networks = []
        for value in values:
            try:
                networks.append(str(ipaddress.ip_network(value.strip(), strict=False)))
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a network like 10.0.0.0/8 (RESEARCH_ALLOWED_NETWORKS)."
                ) from None
        return networks

    @property
    def has_gemini_key(self) -> bool:
        """Whether a Gemini key is configured."""
        key = self.gemini_api_key
        return key is not None and bool(key.get_secret_value().strip())

    def resolve_engine(self, requested: str) -> str:
        """Return the engine a request for `requested` ("local", "gemini", "auto") gets."""
        if requested == "auto":
            return "gemini" if self.has_gemini_key else "local"
        return requested

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        secrets_file: Path | None = Path(".streamlit/secrets.toml"),
    ) -> Settings:
        """Build settings from environment variables, falling back to the secrets file."""
        env = os.environ if env is None else env
        secrets: dict[str, object] = {}
        if secrets_file is not None and secrets_file.is_file():
            with secrets_file.open("rb") as handle:
                secrets = tomllib.load(handle)

        def pick(name: str) -> str | None:
            value = env.get(name)
            if value is None and name in secrets:
                value = str(secrets[name])
            return value or None

        values: dict[str, object] = {}
        if key := pick("GEMINI_API_KEY"):
            values["gemini_api_key"] = SecretStr(key)
        if model := pick("GEMINI_MODEL"):
            values["gemini_model"] = model
        if base := pick("GEMINI_BASE_URL"):
            values["gemini_base_url"] = base
        if version := pick("GEMINI_API_VERSION"):
            values["gemini_api_version"] = version
        if db := pick("RESEARCH_DB"):
            values["db_path"] = Path(db)
        flag = (pick("RESEARCH_ALLOW_PRIVATE_HOSTS") or "").lower()
        values["allow_private_hosts"] = flag in ("1", "true", "yes", "on")
        if networks := pick("RESEARCH_ALLOWED_NETWORKS"):
            values["allowed_networks"] = networks.replace(",", " ").split()
        if url := pick("RESEARCH_DATABASE_URL"):
            values["database_url"] = SecretStr(url)
        values["queue"] = (pick("RESEARCH_QUEUE") or "").lower() in ("1", "true", "yes", "on")
        if lease := pick("RESEARCH_LEASE_SECONDS"):
            values["lease_seconds"] = lease
        return cls.model_validate(values)

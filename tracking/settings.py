"""Configuration from the environment (and an optional .env file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "WORKUP_DATABASE_URL"),
        description="postgresql+psycopg://user:password@host:port/db; unset = embedded PostgreSQL",
    )
    workup_home: Path = Field(default=Path(".workup"), validation_alias="WORKUP_HOME")
    pathways_dir: Path = Field(default=REPO_ROOT / "config" / "pathways", validation_alias="WORKUP_PATHWAYS_DIR")
    default_pathway: str = Field(default="calcifications", validation_alias="WORKUP_DEFAULT_PATHWAY")
    pool_size: int = Field(default=5, validation_alias="WORKUP_DB_POOL_SIZE")
    actor: str = Field(default="cli", validation_alias="WORKUP_ACTOR")


@lru_cache
def get_settings() -> Settings:
    return Settings()

"""The density statement of a lay summary, from the one table that holds it (config/letters/density.yaml)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tracking.cases.errors import LetterTemplateError

DENSE = frozenset({"c", "d"})  # heterogeneously or extremely dense; a and b are not dense
DENSITY_FILE = "density.yaml"


def is_dense(density: str) -> bool:
    return density.lower() in DENSE


def density_statement(letters_dir: Path, language: str, density: str) -> str:
    """The statement for `density` (BI-RADS a-d) in `language`, one line of text."""
    path = letters_dir / DENSITY_FILE
    try:
        table = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise LetterTemplateError(f"cannot read the density statements {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise LetterTemplateError(f"density statements {path}{where}: not valid YAML") from None
    key = "dense" if is_dense(density) else "not_dense"
    statements = table.get(language) if isinstance(table, dict) else None
    text = statements.get(key) if isinstance(statements, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise LetterTemplateError(f"density statements {path}: no '{key}' statement for language '{language}'")
    return " ".join(text.split())

"""The outcomes audit's configuration, config/reports/outcomes.yaml (WORKUP_REPORTS_DIR): the published
ranges shown beside each figure, with their source, and which malignant diagnoses are in situ (DCIS).

The file is data a clinician reviews; every problem in it stops the report with a ReportConfigError
naming the file and the key, never a figure judged against a half-read range.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tracking.cases.errors import ReportConfigError

CONFIG_FILE = "outcomes.yaml"
REQUIRED_BENCHMARKS = ("ppv2", "ppv3")  # judged beside the figures; the others are shown with "not available"


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BenchmarkSpec(_Spec):
    title: str = Field(min_length=1, max_length=120)
    unit: Literal["percent", "per_1000"]
    low: float | None = Field(default=None, ge=0)
    high: float | None = Field(default=None, ge=0)
    source: str = Field(min_length=3, max_length=1000)

    @model_validator(mode="after")
    def _a_range(self) -> BenchmarkSpec:
        if self.low is None and self.high is None:
            raise ValueError("give low, high or both")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low {self.low:g} is above high {self.high:g}")
        if self.unit == "percent" and max(self.low or 0, self.high or 0) > 100:
            raise ValueError("a percentage runs from 0 to 100")
        return self


class OutcomesSpec(_Spec):
    benchmarks: dict[str, BenchmarkSpec]
    in_situ_diagnoses: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class Benchmark:
    """A published range for one figure, as a fraction (percent) or per 1,000 examinations."""

    key: str
    title: str
    unit: str  # percent | per_1000
    low: float | None  # percent: as a fraction (15% is 0.15); per_1000: as written
    high: float | None
    source: str

    def judge(self, value: float | None) -> str:
        """The word shown beside a figure: in range, below range, above range, or no data."""
        if value is None:
            return "no data"
        if self.low is not None and value < self.low:
            return "below range"
        if self.high is not None and value > self.high:
            return "above range"
        return "in range"

    @property
    def range_text(self) -> str:
        """'15–40%', 'at least 20 per 1,000'."""
        scale, unit = (100, "%") if self.unit == "percent" else (1, " per 1,000")
        low = None if self.low is None else f"{self.low * scale:g}"
        high = None if self.high is None else f"{self.high * scale:g}"
        if low is not None and high is not None:
            return f"{low}–{high}{unit}"
        return f"at least {low}{unit}" if low is not None else f"at most {high}{unit}"

    def as_dict(self) -> dict[str, object]:
        return {"title": self.title, "unit": self.unit, "low": self.low, "high": self.high,
                "range": self.range_text, "source": self.source}  # fmt: skip


@dataclass(frozen=True)
class OutcomesConfig:
    path: Path
    benchmarks: dict[str, Benchmark]
    in_situ: frozenset[str]


def load_outcomes_config(reports_dir: Path | None = None) -> OutcomesConfig:
    """Read and check config/reports/outcomes.yaml; ReportConfigError names the file and key of a problem."""
    if reports_dir is None:
        from tracking.settings import get_settings

        reports_dir = get_settings().reports_dir
    path = reports_dir / CONFIG_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ReportConfigError(f"cannot read the outcomes audit configuration {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ReportConfigError(f"{path}{line}: not valid YAML: {getattr(error, 'problem', None) or error}") from None
    try:
        spec = OutcomesSpec.model_validate(data)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        place = ".".join(str(part) for part in first["loc"]) or "(top level)"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ReportConfigError(f"{path}: {place}: {message}") from None
    for key in REQUIRED_BENCHMARKS:
        if key not in spec.benchmarks:
            raise ReportConfigError(f"{path}: benchmarks.{key}: missing (the report judges {key} against it)")
    benchmarks = {key: _benchmark(key, body) for key, body in spec.benchmarks.items()}
    return OutcomesConfig(path, benchmarks, frozenset(spec.in_situ_diagnoses))


def _benchmark(key: str, body: BenchmarkSpec) -> Benchmark:
    scale = 100 if body.unit == "percent" else 1
    low = None if body.low is None else body.low / scale
    high = None if body.high is None else body.high / scale
    return Benchmark(key, body.title, body.unit, low, high, " ".join(body.source.split()))


def check_in_situ(config: OutcomesConfig, malignant: frozenset[str]) -> None:
    """Every in-situ diagnosis is a malignant diagnosis of some pathway (a typo would count DCIS as invasive)."""
    for diagnosis in sorted(config.in_situ - malignant):
        raise ReportConfigError(
            f"{config.path}: in_situ_diagnoses: {diagnosis!r} is not a malignant diagnosis of any pathway "
            f"(malignant diagnoses: {', '.join(sorted(malignant)) or 'none'})"
        )

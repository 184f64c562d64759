"""Read a pathway YAML file, keeping the line of every entry so errors can name their place."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Location = tuple[str | int, ...]


@dataclass
class PathwaySource:
    """The parsed YAML plus where each entry stands in the file."""

    filename: str
    data: Any
    lines: dict[Location, int] = field(default_factory=dict)

    def place(self, location: Location) -> str:
        """`file:line: a.b[2].c` for a location, falling back to its nearest parent's line."""
        probe = location
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe, 1)
        return f"{self.filename}:{line}: {dotted(location) or '(top level)'}"


def dotted(location: Location) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class PathwayFileError(ValueError):
    """The file could not be read as YAML at all."""


def read_source(path: Path | str) -> PathwaySource:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PathwayFileError(f"{path}: cannot read pathway file ({exc.strerror})") from exc
    return parse_source(text, str(path))


def parse_source(text: str, filename: str) -> PathwaySource:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise PathwayFileError(f"{filename}:{line}: not valid YAML: {problem}") from exc
    source = PathwaySource(filename=filename, data=None)
    source.data = _convert(node, (), source.lines) if node is not None else None
    return source


def _convert(node: yaml.Node, location: Location, lines: dict[Location, int]) -> Any:
    lines[location] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(yaml.safe_load(yaml.serialize(key_node)))
            result[key] = _convert(value_node, (*location, key), lines)
            lines[(*location, key)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*location, index), lines) for index, item in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))

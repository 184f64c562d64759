"""Render a letter: its Jinja2 template (config/letters/<language>/<kind>.html) to HTML, then to PDF.

Templates see only the letter's inputs (StrictUndefined: a misspelt variable is an error, never a
blank). Any problem in a template becomes a LetterTemplateError naming the file and line. WeasyPrint
may read files inside the letters folder (a logo, fonts) and nothing else.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound, TemplateSyntaxError

from tracking.cases.errors import LetterTemplateError
from tracking.letters.words import long_date

STYLESHEET = "letter.css"


def template_name(kind: str, language: str) -> str:
    return f"{language}/{kind}.html"


def render_html(letters_dir: Path, inputs: dict[str, Any]) -> str:
    """The letter's HTML from its inputs (which name its kind and language)."""
    language = str(inputs["language"])
    name = template_name(str(inputs["kind"]), language)
    environment = Environment(
        loader=FileSystemLoader(letters_dir), undefined=StrictUndefined, autoescape=True, auto_reload=True
    )
    environment.filters["long_date"] = lambda value: long_date(value, language)
    try:
        return environment.get_template(name).render(**inputs)
    except TemplateNotFound as error:
        missing = error.name or name
        raise LetterTemplateError(f"no letter template {letters_dir / str(missing)}") from None
    except TemplateSyntaxError as error:
        where = error.filename or str(letters_dir / (error.name or name))
        raise LetterTemplateError(f"letter template {where} line {error.lineno}: {error.message}") from None
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as error:
        where = _template_place(error.__traceback__, letters_dir) or f"{letters_dir / name}"
        raise LetterTemplateError(f"letter template {where}: {_first_line(error)}") from None


def render_pdf(letters_dir: Path, html: str) -> bytes:
    """The PDF bytes of a letter's HTML, styled by letters_dir/letter.css (the same bytes for the same HTML)."""
    return bytes(render_document(letters_dir, html).write_pdf())


def render_document(letters_dir: Path, html: str) -> Any:
    """A letter's HTML laid out as a WeasyPrint document (its pages can join other letters' in one PDF)."""
    from weasyprint import CSS, HTML  # type: ignore[import-untyped]

    stylesheet = letters_dir / STYLESHEET
    if not stylesheet.is_file():
        raise LetterTemplateError(f"no letter stylesheet {stylesheet}")
    fetcher = _fetcher_inside(letters_dir)
    try:
        document = HTML(string=html, base_url=f"{letters_dir.resolve().as_uri()}/", url_fetcher=fetcher)
        return document.render(stylesheets=[CSS(filename=str(stylesheet), url_fetcher=fetcher)])
    except (ValueError, OSError) as error:
        raise LetterTemplateError(f"cannot lay out the letter with {stylesheet}: {_first_line(error)}") from None


def _template_place(trace: types.TracebackType | None, letters_dir: Path) -> str | None:
    """'FILE line N' of the innermost template frame (Jinja rewrites its frames to the template's lines)."""
    root, place = str(letters_dir.resolve()), None
    while trace is not None:
        filename = trace.tb_frame.f_code.co_filename
        if filename.endswith(".html") and str(Path(filename).resolve()).startswith(root):
            place = f"{filename} line {trace.tb_lineno}"
        trace = trace.tb_next
    return place


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _fetcher_inside(letters_dir: Path) -> Any:
    """A WeasyPrint URL fetcher that serves files under `letters_dir` only (no network, no other files)."""
    from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

    root = letters_dir.resolve()

    class InsideLettersFolder(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: dict[str, str] | None = None) -> Any:
            parsed = urlparse(url)
            if parsed.scheme != "file" or not Path(unquote(parsed.path)).resolve().is_relative_to(root):
                raise ValueError(f"letters may only use files inside {root}")
            return super().fetch(url, headers)

    return InsideLettersFolder(allowed_protocols={"file"})

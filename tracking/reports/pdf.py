"""A report's HTML as a PDF, with WeasyPrint (the renderer the letters use, Debian's Pango).

The HTML is self-contained: its charts are inline SVG, its style in it or given here. WeasyPrint may
fetch nothing (no file, no network): a report renders the same bytes wherever it runs.
"""

from __future__ import annotations

from typing import Any

from tracking.cases.errors import ReportConfigError


def html_to_pdf(html: str, css: str = "") -> bytes:
    from weasyprint import CSS, HTML  # type: ignore[import-untyped]

    fetcher = _fetch_nothing()
    try:
        document = HTML(string=html, url_fetcher=fetcher)
        return bytes(document.write_pdf(stylesheets=[CSS(string=css, url_fetcher=fetcher)]))
    except (ValueError, OSError) as error:
        lines = str(error).strip().splitlines()
        reason = lines[0] if lines else type(error).__name__
        raise ReportConfigError(f"cannot lay out the report as PDF: {reason}") from None


def _fetch_nothing() -> Any:
    """A WeasyPrint URL fetcher that refuses every address."""
    from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]

    class FetchNothing(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: dict[str, str] | None = None) -> Any:
            raise ValueError(f"a report fetches nothing: {url[:80]}")

    return FetchNothing(allowed_protocols=set())

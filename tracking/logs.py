"""No patient data in logs: a scrubber every entry point installs (`install()`).

Patient names, MRNs and birth dates live only in the `patients` table, yet a failed statement
used to reach stderr with its values: SQLAlchemy's `[parameters: {...}]` dump and PostgreSQL's
`DETAIL:  Failing row contains (...)` / `Key (mrn)=(...) already exists.` lines, inside log
messages and inside the tracebacks that uvicorn, APScheduler and Prefect's flow engine log (and
Prefect sends to its API, where run logs are kept). The engines hide parameters
(`hide_parameters=True`, tracking/db.py); this catches what slips through:

- a log-record factory (process-wide, so it survives the `logging.config.dictConfig` that
  uvicorn and Prefect run after us) scrubs each record's message and renders its traceback
  once, scrubbed, into `exc_text` (dropping `exc_info`, so no handler can render the raw one);
- a `PhiFilter` on the handlers of the root, uvicorn and Prefect loggers does the same for
  records made elsewhere (defence in depth);
- `sys.excepthook` and `threading.excepthook` print scrubbed tracebacks.

Scrubbing keeps what an operator needs (the statement, the constraint, the column names) and
replaces the values with `<hidden>`.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
import sys
import threading
import traceback
import typing
from collections.abc import Callable
from typing import Any

HIDDEN = "<hidden>"

_RULES: list[tuple[re.Pattern[str], str]] = [
    # SQLAlchemy: "[parameters: {'mrn': '...', ...}]" (one line: values are repr()s)
    (re.compile(r"\[parameters: [^\n]*"), f"[parameters: {HIDDEN}]"),
    # SQLAlchemy with echo: "[cached since 1.2s ago] {'mrn': ...}" / "[generated in ...] (...)"
    (re.compile(r"(\[(?:cached since|generated in) [^\]]*\]) [^\n]*"), rf"\1 {HIDDEN}"),
    # PostgreSQL: "Failing row contains (1, 123456, Ada, ...)."
    (re.compile(r"Failing row contains [^\n]*"), f"Failing row contains ({HIDDEN})."),
    # PostgreSQL: "Key (mrn)=(123456) already exists." / "... is not present in table ..." /
    # "Key (a)=(x) conflicts with existing key (a)=(y)." Keep the columns, hide the values.
    (re.compile(r"Key \((.*?)\)=\([^\n]*"), rf"Key (\1)=({HIDDEN})"),
    # PostgreSQL: 'invalid input syntax for type date: "1968-13-45"' and friends
    (re.compile(r'(invalid input (?:syntax|value) for [^\n:]*: )"[^\n]*"'), rf"\1{HIDDEN}"),
    # Any other DETAIL line of a PostgreSQL error may quote values too
    (re.compile(r"(DETAIL: +)(?! )(?!Failing row contains \(<hidden>\)|Key \()[^\n]*"), rf"\1{HIDDEN}"),
]


def scrub(text: str) -> str:
    """`text` with SQL parameter dumps and PostgreSQL's quoted values replaced by <hidden>."""
    if not text:
        return text
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    """Scrub a record in place: its message, and its traceback rendered into exc_text."""
    if getattr(record, "_phi_scrubbed", False):
        return record
    record._phi_scrubbed = True  # type: ignore[attr-defined]
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it; the raw args must not be shown
        message = str(record.msg)
        record.args = ()
    clean = scrub(message)
    if clean != message:  # otherwise leave msg/args alone (uvicorn's access formatter reads args)
        record.msg, record.args = clean, ()
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = scrub("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = scrub(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    return record


class PhiFilter(logging.Filter):
    """A handler filter that scrubs every record it passes (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


_FILTER = PhiFilter()
_install_lock = threading.Lock()
_factory_installed = False

# Loggers that own handlers and do not propagate to the root (uvicorn's, Prefect's).
NAMED_LOGGERS = (
    "uvicorn", "uvicorn.error", "uvicorn.access", "prefect", "prefect.extra", "prefect.flow_runs",
    "prefect.task_runs", "prefect.workers", "prefect._internal", "prefect.server", "apscheduler",
)  # fmt: skip


def _excepthook(kind, value, tb) -> None:
    sys.stderr.write(scrub("".join(traceback.format_exception(kind, value, tb))))


def _thread_excepthook(args: Any) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
    sys.stderr.write(f"Exception in thread {name}:\n{scrub(text)}")


def install() -> None:
    """Scrub every log record of this process from now on; idempotent, cheap to call again.

    Call it at each entry point, and again after something reconfigures logging (uvicorn,
    Prefect), so the handlers it made carry the filter too.
    """
    global _factory_installed
    with _install_lock:
        if not _factory_installed:
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                return scrub_record(previous(*args, **kwargs))

            logging.setLogRecordFactory(factory)
            sys.excepthook = _excepthook
            threading.excepthook = _thread_excepthook
            _factory_installed = True
        loggers = [logging.getLogger(), *(logging.getLogger(name) for name in NAMED_LOGGERS)]
        for logger in loggers:
            for handler in logger.handlers:
                if _FILTER not in handler.filters:
                    handler.addFilter(_FILTER)


class ScrubbedError(RuntimeError):
    """A failure whose message had values scrubbed before Prefect stored it; the original is its cause."""


def phi_safe(function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a flow or task body: Prefect stores a failed run's message (shown in its UI), so a message
    that carries values (a PostgreSQL `Failing row contains (...)`) is raised again scrubbed. The
    original stays the cause, so outage checks (tracking/outages.py) still see it."""

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as error:
            told = f"{type(error).__name__}: {error}"
            clean = scrub(told)
            if clean == told:
                raise
            raise ScrubbedError(clean) from error

    # Prefect reads the parameters' types to validate them; resolve them where the function lives.
    run.__annotations__ = typing.get_type_hints(function)
    run.__signature__ = inspect.signature(function, eval_str=True)  # type: ignore[attr-defined]
    return run

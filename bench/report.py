"""bench/results.json and bench/RESULTS.md, both written from the one dict bench/run.py measures.

`write(figures)` adds the headline figures to each size (value, floor, ratio, target, whether it is
met, the previous design's figure) and the growth from the smallest size to the largest, then
writes the dict as JSON and renders the same dict as Markdown. Every number in RESULTS.md is read
from that dict; the closing note's prose is bench/analysis.md, written by hand after a run
(`python -m bench.report` renders RESULTS.md again from results.json once it is edited).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
RESULTS = HERE / "RESULTS.md"
JSON = HERE / "results.json"
ANALYSIS = HERE / "analysis.md"

RATIO_NOTE = (
    "ratio: value / floor for times (1.0 = as fast as the bare SQL); for a rate, floor / value (the floor is "
    "then the bare-SQL rate, a ceiling). growth: the largest size's value / the smallest size's."
)
# The design before issue 14 (full-pass sweep, 12-17 round trips an event), as bench/RESULTS.md recorded
# it. Measured at 100k cases only; never at 1M.
PREVIOUS_SOURCE = (
    "bench/RESULTS.md of 2026-11-25 13:53 UTC (commit 34ded8a): the full-pass sweep and the 12-17 round-trip "
    "event, before ADR 12; 100k open cases on this 2-core machine. Not measured at 1M."
)
PREVIOUS = {
    "sweep_first_s": {"value": 0.774, "floor": 0.721},
    "sweep_no_change_s": {"value": 0.221, "floor": 0.128, "note": "second run; best of runs 3-5 0.185 s"},
    "event_p50_ms": {"value": 6.5},
    "event_p95_ms": {"value": 8.9},
    "http_events_per_s": {"value": 138.0, "configuration": "2 workers, 32 clients"},
    "worklist_p95_ms": {"value": 34.9},
}
HEADLINE = {  # name: (label, unit, lower is better)
    "sweep_first_s": ("First sweep (full pass, every alert raised)", "s", True),
    "sweep_no_change_s": ("Sweep with nothing to change (median of 5)", "s", True),
    "event_p50_ms": ("Event through the service, p50", "ms", True),
    "event_p95_ms": ("Event through the service, p95", "ms", True),
    "http_events_per_s": ("Events over HTTP, two workers, best", "/s", False),
    "worklist_p95_ms": ("`GET /worklist`, p95", "ms", True),
}


def _figure(value: float, floor: float | None, target: float | None, target_text: str | None,
            lower_is_better: bool = True, **extra: Any) -> dict[str, Any]:  # fmt: skip
    ratio = None
    if floor:
        ratio = value / floor if lower_is_better else (floor / value if value else None)
    meets = None if target is None else (value <= target if lower_is_better else value >= target)
    return {"value": value, "floor": floor, "ratio": None if ratio is None else round(ratio, 2), "target": target,
            "target_text": target_text, "meets": meets} | extra  # fmt: skip


def headline(cases: int, measured: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The figures the issue asks for, at one size, from what was measured there."""
    sweep, events, pages = measured["sweep"], measured["events"], measured["pages"]
    first_target = max(0.5, 1.5 * sweep["floor_first"])
    idle_target = 0.020 if cases <= 100_000 else 0.050
    two_workers = max((row for row in events["http"] if row["workers"] == 2), key=lambda row: row["per_s"])
    best = max(events["http"], key=lambda row: row["per_s"])
    figures = {
        "sweep_first_s": _figure(
            round(sweep["sweep_first"], 4), round(sweep["floor_first"], 4), round(first_target, 4),
            "≤ 0.5 s or ≤ 1.5 × the bare INSERT … SELECT, whichever is larger",
            floor_is="bare INSERT … SELECT of every overdue step's alert into the same alerts table",
        ),
        "sweep_no_change_s": _figure(
            round(sweep["no_change_median"], 4), round(sweep["floor_no_change"], 4), idle_target,
            "≤ 20 ms up to 100k cases, ≤ 50 ms at 1M",
            runs=[round(value, 4) for value in sweep["no_change"]],
            floor_is="bare reads of what can have changed (change log claimed, steps due in the window, alerts due)",
        ),
        "event_p50_ms": _figure(events["service"]["p50_ms"], events["floor"]["p50_ms"], None, None,
                                floor_is="the same statements as bare SQL, p50"),
        "event_p95_ms": _figure(
            events["service"]["p95_ms"], events["floor"]["p95_ms"], 10.0, "≤ 10 ms",
            floor_is="the same statements record_event sends, replayed on plain psycopg, each event committed",
        ),
        "http_events_per_s": _figure(
            two_workers["per_s"], events["floor_2_connections"]["per_s"], 300.0, "≥ 300 events/s with two workers",
            lower_is_better=False, configuration=f"2 workers, {two_workers['clients']} clients",
            best_of_all={"value": best["per_s"], "configuration": f"{best['workers']} workers, {best['clients']} clients"},
            floor_is="bare-SQL rate on two connections (a ceiling)",
        ),
        "worklist_p95_ms": _figure(
            pages["worklist"]["p95_ms"], pages["worklist_floor"]["p95_ms"], 150.0, "< 150 ms",
            floor_is="the worklist's count and page statements as bare SQL",
        ),
    }  # fmt: skip
    for name, figure in figures.items():
        figure["previous"] = PREVIOUS.get(name) if cases == 100_000 else None
    return figures


def build(figures: dict[str, Any]) -> dict[str, Any]:
    """The dict both files are written from: per size, the headline figures by name, then everything
    measured there under "details" (as bench/run.py measured it, or as results.json holds it)."""
    sizes = {}
    for cases, measured in figures["sizes"].items():
        details = {key: value for key, value in measured.get("details", measured).items() if key != "headline"}
        sizes[cases] = headline(int(cases), details) | {"details": details}
    ordered = sorted(sizes, key=int)
    growth = {}
    if len(ordered) > 1:
        small, large = sizes[ordered[0]], sizes[ordered[-1]]
        growth = {name: round(large[name]["value"] / small[name]["value"], 2) if small[name]["value"] else None
                  for name in HEADLINE}  # fmt: skip
    return figures | {"sizes": sizes, "ratio_note": RATIO_NOTE, "previous_design": PREVIOUS_SOURCE, "growth": growth}


def write(figures: dict[str, Any]) -> None:
    data = build(figures)
    JSON.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    RESULTS.write_text(markdown(data))


def _sizes(data: dict[str, Any]) -> list[str]:
    return sorted(data["sizes"], key=int)


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "/s":
        return f"{value:.0f}/s"
    if unit == "s0":
        return f"{value:,.0f} s"
    if unit == "×":
        return f"{value:,.0f}×"
    if unit == "MiB":
        return f"{value:,.0f} MiB"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _table(data: dict[str, Any], rows: list[tuple[str, Any, str]]) -> list[str]:
    """Side by side: one column a size, then the growth from the smallest size to the largest."""
    sizes = _sizes(data)
    lines = ["| | " + " | ".join(f"{int(size):,} cases" for size in sizes) + " | growth |",
             "|---|" + "---|" * (len(sizes) + 1)]  # fmt: skip
    for label, read, unit in rows:
        values = []
        for size in sizes:
            try:
                values.append(read(data["sizes"][size]))
            except (KeyError, IndexError, StopIteration):
                values.append(None)
        growth = "–"
        if len(values) > 1 and values[0] and values[-1] is not None:
            growth = f"{values[-1] / values[0]:.2f}×"
        lines.append(f"| {label} | " + " | ".join(_number(value, unit) for value in values) + f" | {growth} |")
    return lines


def _cell(figure: dict[str, Any], unit: str) -> str:
    floor = f"floor {_number(figure['floor'], unit)}, {figure['ratio']}×" if figure["floor"] else "no floor"
    verdict = "" if figure["meets"] is None else (" — **meets**" if figure["meets"] else " — **MISSES**")
    return f"{_number(figure['value'], unit)} ({floor}){verdict}"


def markdown(built: dict[str, Any]) -> str:
    # the tables read each size's details, with its headline figures beside them
    data = built | {"sizes": {size: entry["details"] | {"headline": {name: entry[name] for name in HEADLINE}}
                              for size, entry in built["sizes"].items()}}  # fmt: skip
    sizes = _sizes(data)
    first = data["sizes"][sizes[0]]
    lines = [
        "# Benchmark results",
        "",
        f"Run {data['run_at']} on {data['machine']}; PostgreSQL {data['postgres']}.",
        f"Reproduce: `make bench` (`{data['command']}`). Every figure below is from that one run, written",
        "with `bench/results.json` from one dict (`bench/report.py`); timings are wall-clock on a 2-core machine",
        "shared by client, server and database.",
        "",
        "Load average (1, 5, 15 min) before and after each size: "
        + "; ".join(f"{int(size):,} cases {data['sizes'][size]['load_average_before']} → "
                    f"{data['sizes'][size]['load_average_after']}" for size in sizes)
        + ". Other work on the machine (test suites) inflates figures taken under load.",
        "",
        "## Targets (issue 14)",
        "",
        "| figure | target | " + " | ".join(f"{int(size):,} cases" for size in sizes)
        + " | growth | previous design, 100k |",
        "|---|---|" + "---|" * (len(sizes) + 2),
    ]  # fmt: skip
    for name, (label, unit, _) in HEADLINE.items():
        target = first["headline"][name]["target_text"] or "–"
        previous = first["headline"][name].get("previous")
        shown = "–"
        if previous:
            shown = _number(previous["value"], unit) + (f" (floor {_number(previous['floor'], unit)})"
                                                        if previous.get("floor") else "")  # fmt: skip
        growth = data["growth"].get(name)
        lines.append(
            f"| {label} | {target} | "
            + " | ".join(_cell(data["sizes"][size]["headline"][name], unit) for size in sizes)
            + f" | {'–' if growth is None else f'{growth:.2f}×'} | {shown} |"
        )
    lines += [
        "",
        "Floors: " + "; ".join(f"{HEADLINE[name][0]}: {figure['floor_is']}" for name, figure in first["headline"].items()) + ".",
        f"{data['ratio_note']} Previous design: {data['previous_design']}",
        "",
        "## Population",
        "",
        *_table(data, [
            ("open cases", lambda m: m["population"]["cases"], ""),
            ("steps (10 a case, history included)", lambda m: m["population"]["steps"], ""),
            ("open steps", lambda m: m["population"]["open_steps"], ""),
            ("overdue steps (5% of all steps)", lambda m: m["population"]["overdue_steps"], ""),
            ("prior-film requests", lambda m: m["population"]["prior_film_requests"], ""),
            ("load: rows written and COPY", lambda m: m["population"]["phases"]["rows written and copied"], "s"),
            ("load: secondary indexes built", lambda m: m["population"]["phases"]["indexes built"], "s"),
            ("load: VACUUM ANALYZE", lambda m: m["population"]["phases"]["VACUUM ANALYZE"], "s"),
            ("load: total (target < 10 min)", lambda m: m["population"]["seconds"], "s"),
        ]),
        "",
        "Loaded with COPY in one transaction with triggers off, what they keep written with the rows; the",
        "first sweep is therefore a full pass (no watermark), as after any load or restore (ADR 12).",
        "",
        "## (a) The overdue sweep",
        "",
        *_table(data, [
            ("first sweep (full pass, no watermark)", lambda m: m["sweep"]["sweep_first"], "s"),
            ("its floor: bare INSERT … SELECT of every alert", lambda m: m["sweep"]["floor_first"], "s"),
            ("alerts raised", lambda m: m["sweep"]["raised"], ""),
            ("nothing to change, median of runs 2-6", lambda m: m["sweep"]["no_change_median"], "s"),
            ("nothing to change, run 2", lambda m: m["sweep"]["no_change"][0], "s"),
            ("nothing to change, best run", lambda m: min(m["sweep"]["no_change"]), "s"),
            ("its floor: bare reads of what can have changed", lambda m: m["sweep"]["floor_no_change"], "s"),
            ("five minutes later (steps falling due, escalations)", lambda m: m["sweep"]["five_minutes_later"], "s"),
            ("forced full pass, nothing to change (`--full`)", lambda m: m["sweep"]["full_again"], "s"),
            ("its floor: the bare INSERT … SELECT inserting nothing", lambda m: m["sweep"]["floor_full_again"], "s"),
        ]),
        "",
        "## (b) Event recording",
        "",
        "One `magnification_result` per case, each in its own transaction.",
        "",
        *_table(data, [
            ("service `record_event`, p50", lambda m: m["events"]["service"]["p50_ms"], "ms"),
            ("service `record_event`, p95", lambda m: m["events"]["service"]["p95_ms"], "ms"),
            ("service, events/s (one client)", lambda m: m["events"]["service"]["per_s"], "/s"),
            ("its floor: the same statements as bare SQL, p50", lambda m: m["events"]["floor"]["p50_ms"], "ms"),
            ("its floor: the same statements as bare SQL, p95", lambda m: m["events"]["floor"]["p95_ms"], "ms"),
            ("bare SQL on two connections, events/s", lambda m: m["events"]["floor_2_connections"]["per_s"], "/s"),
            *[row for workers, clients in [(1, 1), (1, 8), (1, 32), (2, 8), (2, 32)] for row in (
                (f"HTTP, {workers} worker{'s' * (workers > 1)}, {clients} client{'s' * (clients > 1)}: events/s",
                 _http(workers, clients, "per_s"), "/s"),
                (f"HTTP, {workers} worker{'s' * (workers > 1)}, {clients} client{'s' * (clients > 1)}: p95",
                 _http(workers, clients, "p95_ms"), "ms"),
            )],
            ("HTTP errors (all configurations)", lambda m: sum(row["errors"] for row in m["events"]["http"]), ""),
            *[(f"HTTP, 2 workers, 32 clients: CPU an event, {part}", _http_cpu(2, 32, part), "ms")
              for part in ("client", "server", "postgres")],
        ]),
        "",
        "CPU an event: the CPU time the benchmark's client threads, `workup serve`'s processes and every",
        "PostgreSQL process spent during the run, over the events. Their sum over the two cores bounds the rate.",
        "",
        "## (c) Pages and API",
        "",
        *_table(data, [
            ("`GET /worklist` (navigator, first page of 50), p50", lambda m: m["pages"]["worklist"]["p50_ms"], "ms"),
            ("`GET /worklist`, p95", lambda m: m["pages"]["worklist"]["p95_ms"], "ms"),
            ("its floor: the count and page statements as bare SQL, p95",
             lambda m: m["pages"]["worklist_floor"]["p95_ms"], "ms"),
            ("`GET /api/overdue` (500 rows), p50", lambda m: m["pages"]["overdue_api"]["p50_ms"], "ms"),
            ("`GET /api/overdue`, p95", lambda m: m["pages"]["overdue_api"]["p95_ms"], "ms"),
        ]),
        "",
        "## (f) The worklist by filter (`worklist_page`: the count and the page of 50), p95",
        "",
        *_table(data, [
            (row["filter"], _filter(row["filter"]), "ms") for row in first["worklist_filters"]
        ]),
        "",
        "## (d) The naive design: one Prefect flow run per open case",
        "",
        *_table(data, [
            ("flow runs timed", lambda m: m["naive"]["sample"], ""),
            ("per case", lambda m: m["naive"]["seconds"] / m["naive"]["sample"] * 1000, "ms"),
            ("extrapolated to every open case, one sweep", lambda m: _naive_total(m), "s0"),
            ("… over the set-based first sweep", lambda m: _naive_total(m) / m["sweep"]["sweep_first"], "×"),
            ("… over a sweep with nothing to change", lambda m: _naive_total(m) / m["sweep"]["no_change_median"], "×"),
        ]),
        "",
        "## (e) Peak memory of the default single-process `workup serve`",
        "",
        *_table(data, [
            ("after (c)", lambda m: m["memory"]["after_pages_mib"], "MiB"),
            ("after the HTTP events at 1, 8 and 32 clients", lambda m: m["memory"]["after_events_mib"], "MiB"),
        ]),
        "",
        *_worker_section(data),
        "## Closing note: which targets hold",
        "",
        *[
            f"- {HEADLINE[name][0]} ({figure['target_text']}): "
            + "; ".join(
                f"{int(size):,} cases {_number(data['sizes'][size]['headline'][name]['value'], HEADLINE[name][1])} "
                + ("holds" if data["sizes"][size]["headline"][name]["meets"] else "**misses**")
                for size in sizes
            )
            + "."
            for name, figure in first["headline"].items()
            if figure["target"] is not None
        ],
        *_worker_verdicts(data),
    ]  # fmt: skip
    if ANALYSIS.exists():
        lines += ["", *ANALYSIS.read_text().splitlines()]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Write RESULTS.md again from results.json (after editing analysis.md, the closing note's prose)."""
    figures = json.loads(JSON.read_text())
    write(figures)
    print(f"wrote {RESULTS} from {JSON}")
    return 0


def _http(workers: int, clients: int, field: str):
    def read(measured: dict[str, Any]) -> float:
        return next(row[field] for row in measured["events"]["http"]
                    if row["workers"] == workers and row["clients"] == clients)  # fmt: skip

    return read


def _http_cpu(workers: int, clients: int, part: str):
    def read(measured: dict[str, Any]) -> float | None:
        row = next(row for row in measured["events"]["http"] if row["workers"] == workers and row["clients"] == clients)
        return row.get("cpu_ms_per_event", {}).get(part)

    return read


# `workup worker` (bench/worker.py): measured once per run, on an empty database. Issue 14 item 3's
# targets: from an event to its outside work under 5 s at p95 (the notice, and the case run), an idle
# worker under 2% of a core.
WORKER_TARGET_P95_S = 5.0
WORKER_TARGET_IDLE_PERCENT = 2.0
PHASES = {"burst": "burst", "steady": "steady pace"}
WORKER_ROWS = [  # label, key, unit, target
    ("events recorded (BI-RADS 4B reads)", "events", "", None),
    ("seconds between two events", "spacing_s", "", None),
    ("event to its notice sent, p50", "event_to_notice_sent_p50_s", "s", None),
    ("event to its notice sent, p95", "event_to_notice_sent_p95_s", "s", WORKER_TARGET_P95_S),
    ("event to its case run finished, p50", "event_to_case_run_done_p50_s", "s", None),
    ("event to its case run finished, p95", "event_to_case_run_done_p95_s", "s", WORKER_TARGET_P95_S),
    ("event to both done, max", "event_to_outside_work_max_s", "s", None),
    ("events not served", "events_not_served", "", None),
]
IDLE_ROWS = [
    ("idle worker, share of one core (%)", "idle_worker_cpu_percent", "", WORKER_TARGET_IDLE_PERCENT),
    ("flow runs created while idle", "idle_flow_runs", "", None),
    ("worker resident memory", "worker_rss_mib", "MiB", None),
]


def _below(target: float | None, unit: str) -> str:
    return "–" if target is None else f"< {_number(target, unit)}"


def _worker_section(data: dict[str, Any]) -> list[str]:
    worker = data.get("worker")
    if not worker:
        return []
    phases = [phase for phase in PHASES if phase in worker]
    return [
        "## (g) `workup worker`: from an event to its outside work, and idle",
        "",
        "Events through `record_event`, each asking for a case run and a notice to the navigators; a Prefect",
        "server and `workup worker` run as subprocesses and the notice goes to a loopback SMTP server",
        "(bench/worker.py): a burst, then (once its backlog is served) a steady pace, then the worker idle.",
        f"Load average {worker['load_average_before']} → {worker['load_average_after']}.",
        "",
        "| figure | target | " + " | ".join(PHASES[phase] for phase in phases) + " |",
        "|---|---|" + "---|" * len(phases),
        *[f"| {label} | {_below(target, unit)} | " + " | ".join(_number(worker[phase].get(key), unit) for phase in phases) + " |"
          for label, key, unit, target in WORKER_ROWS],
        "",
        "| idle | target | value |",
        "|---|---|---|",
        *[f"| {label} | {_below(target, unit)} | {_number(worker[key], unit)} |"
          for label, key, unit, target in IDLE_ROWS],
        "",
    ]  # fmt: skip


def _worker_verdicts(data: dict[str, Any]) -> list[str]:
    worker = data.get("worker")
    if not worker:
        return []
    found = [(f"{label}, {PHASES[phase]}", worker[phase][key], unit, target)
             for label, key, unit, target in WORKER_ROWS if target is not None
             for phase in PHASES if phase in worker]  # fmt: skip
    found += [(label, worker[key], unit, target) for label, key, unit, target in IDLE_ROWS if target is not None]
    return [f"- `workup worker`, {label} ({_below(target, unit)}): {_number(value, unit)} "
            + ("holds" if value < target else "**misses**") + "." for label, value, unit, target in found]  # fmt: skip


def _filter(name: str):
    def read(measured: dict[str, Any]) -> float:
        return next(row["p95_ms"] for row in measured["worklist_filters"] if row["filter"] == name)

    return read


def _naive_total(measured: dict[str, Any]) -> float:
    naive = measured["naive"]
    return naive["seconds"] / naive["sample"] * naive["open_cases"]


if __name__ == "__main__":
    raise SystemExit(main())

"""The data-quality report as a terminal summary and as a self-contained HTML page."""

from __future__ import annotations

import html
import importlib.metadata
import json
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from engine.quality import QualityReport

__all__ = ["print_summary", "render_html"]

_MARK = {"error": "[red]error[/red]", "warning": "[yellow]warning[/yellow]", "info": "info"}
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
.error { color: #a00; } .warning { color: #a60; } .info { color: #555; } .ok { color: #060; }
code { font-size: .9em; }
"""


def print_summary(report: QualityReport, console: Console) -> None:
    table = Table(title=f"data quality: {report.nodes:,} nodes, {report.edges:,} edges "
                        f"(snapshot v{report.version}, log sequence {report.log_sequence:,})")
    for column in ("check", "severity", "count", "first example"):
        table.add_column(column)
    for finding in report.findings:
        first = json.dumps(finding.examples[0], default=str)[:90] if finding.examples else ""
        mark = _MARK[finding.severity] if finding.count else "ok"
        table.add_row(finding.title, mark, f"{finding.count:,}", first)
    console.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return "<br>".join(_cell(v) for v in value)
    return f"<code>{html.escape(str(value))}</code>" if value is not None else ""


def render_html(report: QualityReport, source: str) -> str:
    """One page: a stamp (what was checked, when, by which version), a summary table, then
    each finding with its examples. A check that found nothing is "ok", not styled as its
    severity; the severity still says what a finding there would mean."""
    when = datetime.now(UTC).isoformat(timespec="seconds")
    rows = "".join(
        f'<tr><td><a href="#{f.check}">{html.escape(f.title)}</a></td>'
        f'<td class="{_css(f)}">{f.severity if f.count else "ok"}</td><td>{f.count:,}</td></tr>'
        for f in report.findings)
    sections = []
    for f in report.findings:
        body = "<p>None.</p>"
        if f.examples:
            columns = list(dict.fromkeys(c for e in f.examples for c in e))
            head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
            lines = "".join("<tr>" + "".join(f"<td>{_cell(e.get(c))}</td>" for c in columns)
                            + "</tr>" for e in f.examples)
            shown = (f"<p>Showing {len(f.examples)} of {f.example_pool:,}.</p>"
                     if f.example_pool > len(f.examples) else "")
            body = f"{shown}<table><tr>{head}</tr>{lines}</table>"
        sections.append(f'<h2 id="{f.check}" class="{_css(f)}">{html.escape(f.title)} '
                        f"({f.count:,})</h2>{body}")
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>tracegraph data "
            f"quality: {html.escape(source)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>Data quality of {html.escape(source)}</h1>"
            f"<p>{report.nodes:,} nodes, {report.edges:,} edges; snapshot version "
            f"{report.version}, log sequence {report.log_sequence:,}; checked {when} by "
            f"tracegraph {_version()}.</p>"
            f"<table><tr><th>check</th><th>severity</th><th>count</th></tr>{rows}</table>"
            f"{''.join(sections)}</body></html>\n")


def _css(finding: Any) -> str:
    return finding.severity if finding.count else "ok"


def _version() -> str:
    try:
        return importlib.metadata.version("tracegraph")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"

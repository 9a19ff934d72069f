"""HTML for a diagnosis: each finding with its fix and the exchanges that show it (no I/O)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from .html import box, exchange_row

if TYPE_CHECKING:
    from ..diagnosis.findings import Finding
    from ..diagnosis.runner import Diagnosis

# A severity's colour class and symbol; the severity itself is the word (colour never says it alone).
_MARK = {"error": ("bad", "✗"), "warning": ("redirect", "⚠"), "info": ("ok", "•")}


def finding_html(finding: Finding) -> str:
    """One finding: severity, code, message, fix, evidence."""
    fix = f"<p>fix: {escape(finding.fix)}</p>" if finding.fix else ""
    evidence = "".join(exchange_row(e) for e in finding.evidence)
    css, symbol = _MARK[finding.severity]
    return (
        f'<div><strong class="{css}">{symbol} {escape(finding.severity)}</strong> '
        f"<code>{escape(finding.code)}</code>: {escape(finding.message)}{fix}{evidence}</div>"
    )


def diagnosis_html(diagnosis: Diagnosis) -> str:
    """All findings, errors first."""
    title = f"Diagnosis of {diagnosis.reference}: {'OK' if diagnosis.ok else 'problems found'}"
    return box(title, "".join(finding_html(f) for f in diagnosis.findings))

"""``render_html``: one function, dispatched on the result's type, that every ``_repr_html_`` calls.

Renderers stay in :mod:`.html`, :mod:`.analysis_html` and :mod:`.diagnosis_html`; this module only
says which renders what, so a new result type means one line here and no change to the result.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import singledispatch
from html import escape
from typing import Any

from ..analysis.compare import ImageComparison
from ..analysis.costs import ProxyLatency, PullComparison, UpstreamCosts
from ..analysis.dialects import DialectComparison
from ..analysis.export import ExportResult
from ..analysis.image import ImageAnalysis
from ..analysis.layers import LayerReport
from ..analysis.sizes import LayerSizes, SizeReport
from ..analysis.usage import CollectionCheck, RepositoryUsage
from ..diagnosis.runner import Diagnosis
from ..errors import RegkitError
from ..http.exchange import Exchange, Transcript
from ..oci.challenge import Challenge
from ..oci.reference import Reference
from ..steps.auth import Token
from ..steps.blobs import BlobResult
from ..steps.listing import NameList
from ..steps.manifest_fetch import ManifestResult
from ..steps.pull import PullResult
from ..steps.referrers import ImageTree
from ..steps.tarball import AssembledImage
from . import analysis_html, costs_html, diagnosis_html, html
from .repository_html import names_html, tree_html, tree_text
from .sequence import sequence

# sequence and tree_text: Transcript.sequence() and ImageTree.text() reach them from here
__all__ = ["RENDERERS", "render_html", "sequence", "tree_text"]


@singledispatch
def render_html(obj: Any) -> str:
    """The HTML of a regkit result; types without a renderer show their text repr (xarray's fallback)."""
    return f"<pre>{escape(repr(obj))}</pre>"


def _transcript_html(transcript: Transcript) -> str:
    return html.exchanges_html(list(transcript))


# Which renderer draws which result type (subclasses included): a new result type is one line here.
RENDERERS: dict[type, Callable[[Any], str]] = {
    RegkitError: html.error_html,
    Reference: html.reference_html,
    Challenge: html.challenge_html,
    Exchange: html.exchange_html,
    Transcript: _transcript_html,
    Token: html.token_html,
    ManifestResult: html.manifest_html,
    BlobResult: html.blob_html,
    AssembledImage: html.image_html,
    PullResult: html.pull_html,
    LayerReport: analysis_html.layer_html,
    ImageAnalysis: analysis_html.analysis_html,
    LayerSizes: analysis_html.layer_sizes_html,
    SizeReport: analysis_html.size_report_html,
    ImageComparison: analysis_html.comparison_html,
    ExportResult: analysis_html.export_html,
    Diagnosis: diagnosis_html.diagnosis_html,
    PullComparison: costs_html.pull_comparison_html,
    ProxyLatency: costs_html.proxy_latency_html,
    UpstreamCosts: costs_html.upstream_costs_html,
    DialectComparison: costs_html.dialect_comparison_html,
    ImageTree: tree_html,
    NameList: names_html,
    RepositoryUsage: analysis_html.usage_html,
    CollectionCheck: analysis_html.collection_check_html,
}
for result_type, renderer in RENDERERS.items():
    render_html.register(result_type, renderer)

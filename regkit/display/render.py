"""``render_html``: one function, dispatched on the result's type, that every ``_repr_html_`` calls.

Renderers stay in :mod:`.html`, :mod:`.analysis_html` and :mod:`.diagnosis_html`; this module only
says which renders what, so a new result type means one line here and no change to the result.
"""

from __future__ import annotations

from functools import singledispatch
from html import escape
from typing import Any

from ..analysis.compare import ImageComparison
from ..analysis.export import ExportResult
from ..analysis.image import ImageAnalysis
from ..analysis.layers import LayerReport
from ..analysis.sizes import LayerSizes, SizeReport
from ..diagnosis.runner import Diagnosis
from ..errors import RegkitError
from ..http.exchange import Exchange, Transcript
from ..oci.challenge import Challenge
from ..oci.reference import Reference
from ..steps.auth import Token
from ..steps.blobs import BlobResult
from ..steps.manifest_fetch import ManifestResult
from ..steps.pull import PullResult
from ..steps.tarball import AssembledImage
from . import analysis_html, diagnosis_html, html


@singledispatch
def render_html(obj: Any) -> str:
    """The HTML of a regkit result; types without a renderer show their text repr (xarray's fallback)."""
    return f"<pre>{escape(repr(obj))}</pre>"


def _transcript_html(transcript: Transcript) -> str:
    return html.exchanges_html(list(transcript))


render_html.register(RegkitError, html.error_html)
render_html.register(Reference, html.reference_html)
render_html.register(Challenge, html.challenge_html)
render_html.register(Exchange, html.exchange_html)
render_html.register(Transcript, _transcript_html)
render_html.register(Token, html.token_html)
render_html.register(ManifestResult, html.manifest_html)
render_html.register(BlobResult, html.blob_html)
render_html.register(AssembledImage, html.image_html)
render_html.register(PullResult, html.pull_html)
render_html.register(LayerReport, analysis_html.layer_html)
render_html.register(ImageAnalysis, analysis_html.analysis_html)
render_html.register(LayerSizes, analysis_html.layer_sizes_html)
render_html.register(SizeReport, analysis_html.size_report_html)
render_html.register(ImageComparison, analysis_html.comparison_html)
render_html.register(ExportResult, analysis_html.export_html)
render_html.register(Diagnosis, diagnosis_html.diagnosis_html)

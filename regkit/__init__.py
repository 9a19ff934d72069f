"""regkit: the Docker/OCI registry pull protocol, one visible step at a time.

``client.repository(ref)`` binds a :class:`Client`, a reference and its token once (a :class:`Repository`);
the five steps are also callable alone: :func:`resolve`, :func:`get_token`, :func:`get_manifest`,
:func:`fetch_blob`, :func:`assemble` (no network); :func:`pull` composes them. Every HTTP exchange is
recorded (redacted) on the client's transcript, on the repository's log and on each step's result.

The public API, above every layer but the command line: it may import all of them except ``cli``.
"""

from __future__ import annotations

from ._version import __version__
from .diagnosis import Diagnosis, Finding, diagnose
from .errors import (
    AuthError,
    BudgetExceeded,
    Cancelled,
    DigestMismatch,
    InvalidOption,
    InvalidPlatform,
    InvalidReference,
    LabError,
    ManifestError,
    NoMatchingPlatform,
    NotFound,
    OutputError,
    RegistryError,
    RegkitError,
    SizeMismatch,
    TransportError,
    UnexpectedResponse,
    UnsafeContent,
    UsageError,
    VerificationError,
)
from .http.credentials import Credentials
from .http.endpoints import Endpoints
from .http.exchange import Exchange, Transcript
from .http.tokens import Token
from .oci.budgets import Budgets
from .oci.digest import Digest
from .oci.manifest import Descriptor, ImageManifest, Index
from .oci.platform import Platform
from .oci.reference import Reference, resolve
from .steps.auth import get_token
from .steps.blobs import BlobResult, fetch_blob
from .steps.manifest_fetch import ManifestResult, get_manifest
from .steps.pull import PullResult, pull
from .steps.repository import Client, Repository
from .steps.store import BlobStore
from .steps.tarball import AssembledImage, assemble

__all__ = [
    "AssembledImage",
    "AuthError",
    "BlobResult",
    "BlobStore",
    "BudgetExceeded",
    "Budgets",
    "Cancelled",
    "Client",
    "Credentials",
    "Descriptor",
    "Diagnosis",
    "Digest",
    "DigestMismatch",
    "Endpoints",
    "Exchange",
    "Finding",
    "ImageManifest",
    "Index",
    "InvalidOption",
    "InvalidPlatform",
    "InvalidReference",
    "LabError",
    "ManifestError",
    "ManifestResult",
    "NoMatchingPlatform",
    "NotFound",
    "OutputError",
    "Platform",
    "PullResult",
    "Reference",
    "RegistryError",
    "RegkitError",
    "Repository",
    "SizeMismatch",
    "Token",
    "Transcript",
    "TransportError",
    "UnexpectedResponse",
    "UnsafeContent",
    "UsageError",
    "VerificationError",
    "__version__",
    "assemble",
    "diagnose",
    "fetch_blob",
    "get_manifest",
    "get_token",
    "pull",
    "resolve",
]

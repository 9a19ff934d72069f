"""Budgets: what one image's layer contents may cost, charged while the bytes stream, refused once passed.

A layer is hostile data: a few KB of gzip or zstd can expand to terabytes, a tar header can
declare a sparse file of any size (its holes cost nothing to send but everything to hash or
write), a tiny layer can hold millions of empty entries, and one deep path makes every directory
above it a path of its own. The defaults are far above anything a real image needs::

    layer_bytes    64 GiB   uncompressed tar of one layer, sparse holes counted at the size they claim
    image_bytes   256 GiB   the same, all layers of an image together
    layer_entries  2 Mi     tar members of one layer (2,097,152)
    image_entries  4 Mi     tar members of all layers together (4,194,304)
    path_bytes      1 GiB   bytes of the merged tree's full paths added up (a listing's size; what a
                            path ``a/a/…/a`` of depth d costs is d² bytes, so depth ~32k fits)

Passing one raises :class:`~regkit.errors.BudgetExceeded` naming the budget and the option that raises it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import BudgetExceeded
from .budget_options import DEFAULTS, OPTIONS


@dataclass(frozen=True, slots=True)
class Budgets:
    """Limits on one image's layer contents (see :mod:`regkit.oci.budgets` for what each counts).

    Parameters
    ----------
    layer_bytes : int
        Uncompressed bytes of one layer.
    image_bytes : int
        Uncompressed bytes of all layers together.
    layer_entries : int
        Tar entries of one layer.
    image_entries : int
        Tar entries of all layers together.
    path_bytes : int
        Bytes of all entry paths together, as the merged tree holds them.
    """

    layer_bytes: int = DEFAULTS["layer_bytes"]
    image_bytes: int = DEFAULTS["image_bytes"]
    layer_entries: int = DEFAULTS["layer_entries"]
    image_entries: int = DEFAULTS["image_entries"]
    path_bytes: int = DEFAULTS["path_bytes"]


class Meter:
    """What one image has spent so far; :meth:`layer` starts the per-layer counts again.

    Parameters
    ----------
    budgets : Budgets, optional
        The bounds charged against; default :class:`Budgets` (far above any real image).
    """

    __slots__ = ("budgets", "image_bytes", "image_entries", "layer_bytes", "layer_entries", "path_bytes", "where")

    def __init__(self, budgets: Budgets | None = None) -> None:
        self.budgets = budgets or Budgets()
        self.image_bytes = self.image_entries = self.path_bytes = 0
        self.layer_bytes = self.layer_entries = 0
        self.where = "the image"

    def layer(self, where: str) -> Meter:
        """Start counting a new layer, named ``where`` in errors.

        Parameters
        ----------
        where : str
            The layer as errors name it (``layer 2 (sha256:…)``).

        Returns
        -------
        Meter
            Itself.
        """
        self.layer_bytes = self.layer_entries = 0
        self.where = where
        return self

    def bytes(self, count: int) -> None:
        """Charge ``count`` uncompressed bytes to the layer and the image.

        Parameters
        ----------
        count : int
            The bytes read.

        Raises
        ------
        BudgetExceeded
            The layer's or the image's uncompressed bytes pass its budget.
        """
        self.layer_bytes += count
        self.image_bytes += count
        self._check("layer_bytes", self.layer_bytes, "uncompressed bytes")
        self._check("image_bytes", self.image_bytes, "uncompressed bytes")

    def entries(self, count: int = 1) -> None:
        """Charge ``count`` tar members to the layer and the image.

        Parameters
        ----------
        count : int, optional
            The members read (default 1).

        Raises
        ------
        BudgetExceeded
            The layer's or the image's entries pass its budget.
        """
        self.layer_entries += count
        self.image_entries += count
        budgets = self.budgets
        if self.layer_entries <= budgets.layer_entries and self.image_entries <= budgets.image_entries:
            return  # the usual case, once per tar member: no call to find out
        self._check("layer_entries", self.layer_entries, "entries")
        self._check("image_entries", self.image_entries, "entries")

    def paths(self, count: int) -> None:
        """Charge ``count`` bytes of full paths placed in the merged tree.

        Parameters
        ----------
        count : int
            The bytes of the paths placed.

        Raises
        ------
        BudgetExceeded
            The image's paths pass the ``path_bytes`` budget.
        """
        self.path_bytes += count
        if self.path_bytes <= self.budgets.path_bytes:
            return
        self._check("path_bytes", self.path_bytes, "bytes of paths in the merged tree")

    def _check(self, budget: str, spent: int, what: str) -> None:
        limit: int = getattr(self.budgets, budget)
        if spent > limit:
            scope = self.where if budget.startswith("layer") else f"the image (at {self.where})"
            raise BudgetExceeded(
                f"{scope} passes the {budget} budget: more than {limit} {what}; refused",
                budget=budget,
                option=OPTIONS[budget],
            )

"""What the hub lab (:class:`regkit.lab.lab.Lab`) and a dialect lab (:class:`regkit.lab.dialectlab.DialectLab`)
share: starting and stopping, the refusal to start twice, and the names code taking either lab reads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import LabError
from .kernel import end_kernel_lab
from .nginx import NGINX
from .process import Service, require_binary

if TYPE_CHECKING:  # typing_extensions: ~5 ms of start-up for what only the type checker reads
    from typing_extensions import Self

PRIVATE_NAMESPACE = "private"


class _Settings(Protocol):
    """What a lab's recorded settings hold for every kind of lab."""

    @property
    def password(self) -> str:
        """The lab's password for its credentials."""

    @property
    def images(self) -> Sequence[str]:
        """The sample images (``repository:tag``)."""


class LabBase(Service):
    """A lab's servers in a state directory: ``up``/``start`` and ``down``/``stop``, its images and credentials."""

    state_dir: Path

    @property
    def settings(self) -> _Settings:
        """The running lab's settings (read from its state directory)."""
        raise NotImplementedError

    @property
    def dialect(self) -> str:
        """The registry dialect the lab speaks (``hub``, ``ghcr``, …)."""
        raise NotImplementedError

    @property
    def registry(self) -> str:
        """The registry as image references spell it."""
        raise NotImplementedError

    @property
    def username(self) -> str:
        """The user name of the lab's credentials."""
        raise NotImplementedError

    def running(self) -> dict[str, int | None]:
        """Each process of this lab and its PID (None when not running)."""
        raise NotImplementedError

    def up(self) -> Self:
        """Start the servers and return the lab; refuses if this lab already runs."""
        raise NotImplementedError

    def stop_servers(self) -> None:
        """Stop this lab's servers by PID, and nothing else."""
        raise NotImplementedError

    @property
    def images(self) -> list[str]:
        """Every image reference the lab serves (public and private)."""
        return [f"{self.registry}/{name}" for name in self.settings.images]

    @property
    def private(self) -> list[str]:
        """The image references (``host:port/name:tag``) in the private namespace: only the lab's credentials
        may pull them."""
        return [ref for ref in self.images if ref.split("/", 1)[1].startswith(f"{PRIVATE_NAMESPACE}/")]

    @property
    def password(self) -> str:
        """The password of the lab's credentials (a dialect lab's: a token for ECR, Artifact Registry (1 h) and
        ACR (the refresh token))."""
        return self.settings.password

    @property
    def credentials(self) -> tuple[str, str]:
        """``(username, password)``: they pull the private images (and push, in the hub lab)."""
        return self.username, self.password

    def summary(self) -> dict[str, Any]:
        """What ``regkit lab up --json`` prints of every lab (its own secrets only).

        Returns
        -------
        dict
            ``dialect``, ``registry``, ``images``, ``private``, ``username``, ``password`` and ``state_dir``; each
            kind of lab adds its own (``realm``, ``service``, ``storage``, …).

        Raises
        ------
        LabError
            No lab was started in the state directory (no settings file); start one with :meth:`up`.
        """
        return {
            "dialect": self.dialect,
            "registry": self.registry,
            "images": self.images,
            "private": self.private,
            "username": self.username,
            "password": self.password,
            "state_dir": str(self.state_dir),
        }

    def start(self) -> None:
        """Start the lab (see :meth:`up`)."""
        self.up()

    def stop(self) -> None:
        """Stop the lab (see :meth:`down`)."""
        self.down()

    def down(self) -> None:
        """Stop the lab's servers by PID; the state directory stays for inspection, except a kernel's lab's.

        A lab started for a notebook kernel (``Lab.for_kernel``) lives in a temporary directory watched by
        a watchdog process: both go too.
        """
        self.stop_servers()
        end_kernel_lab(self.state_dir)

    def _prepare(self, other_settings: str) -> None:
        """Refuse to start a running lab or without nginx; make the state directory, without the settings file
        ``other_settings`` a lab of the other kind left there."""
        if any(self.running().values()):
            raise LabError(f"a lab is already running in {self.state_dir}", hint="stop it with: regkit lab down")
        require_binary(NGINX, "nginx")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / other_settings).unlink(missing_ok=True)

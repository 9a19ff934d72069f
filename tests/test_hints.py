"""Hints as data: an error carries the option that would fix it, and each front end says it in its own words."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

import regkit
from regkit.errors import CREDENTIALS, INSECURE, PLATFORM, SPEED, Hint, Option
from regkit.oci import mediatypes as mt
from regkit.oci.digest import Digest
from regkit.oci.manifest import parse_manifest

from .helpers import cli

FLAGS = ("--insecure-registry", "--password-stdin", "--min-speed", "--ca-cert", "--platform")


def test_a_hint_says_its_option_per_front_end():
    hint = Hint("for plain HTTP use ", INSECURE)
    assert hint.option == INSECURE and str(hint) == "for plain HTTP use insecure=True"
    assert hint.said("cli") == "for plain HTTP use --insecure-registry"
    assert hint.said("html") == "for plain HTTP use insecure=True (command line: --insecure-registry)"
    longer = hint + "; or an http:// mirror"  # words added keep the option
    assert isinstance(longer, Hint) and longer.option == INSECURE and longer.said("cli").endswith("http:// mirror")
    assert Hint("no option here").option is None


def test_an_error_keeps_its_hint_as_data_also_when_set_later_or_pickled():
    error = regkit.TransportError("refused", hint=Hint("change the rule with ", SPEED))
    assert error.hint is not None and error.hint.option == SPEED
    assert str(error) == f"refused (change the rule with {SPEED.python})"
    error.hint = "plain words"  # a plain string becomes a Hint without an option
    assert isinstance(error.hint, Hint) and error.hint.option is None
    copy = pickle.loads(pickle.dumps(Hint("pass ", CREDENTIALS)))
    assert copy.option == CREDENTIALS and copy.said("cli") == "pass -u USER --password-stdin"


def test_library_messages_name_keywords_and_no_command_line_flags():
    """Each site that used to tell a notebook user a command-line flag (scheme in a reference, no platform)."""
    with pytest.raises(regkit.InvalidReference) as scheme:
        regkit.resolve("http://127.0.0.1:5000/busybox")
    assert scheme.value.hint is not None and scheme.value.hint.option == INSECURE
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [
                {
                    "mediaType": mt.OCI_MANIFEST,
                    "size": 2,
                    "digest": "sha256:" + "a" * 64,
                    "platform": {"os": "linux", "architecture": "s390x"},
                }
            ],
        }
    ).encode()
    index = parse_manifest(raw, mt.OCI_INDEX, Digest.of(raw))
    assert isinstance(index, regkit.Index)
    with pytest.raises(regkit.NoMatchingPlatform) as platform:
        index.select(regkit.Platform.parse("linux/riscv64"))
    assert platform.value.hint is not None and platform.value.hint.option == PLATFORM
    errors: list[regkit.RegkitError] = [scheme.value, platform.value]
    for error in errors:
        assert not any(flag in str(error) for flag in FLAGS), str(error)
        html = error._repr_html_()
        assert error.hint is not None and error.hint.option is not None
        assert error.hint.option.python in html and error.hint.option.cli in html  # the HTML says both


def test_the_command_line_says_its_flag(tmp_path: Path):
    done = cli("pull", "http://127.0.0.1:9/busybox", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "hint: for plain HTTP use --insecure-registry" in done.stderr and "insecure=True" not in done.stderr


def test_options_compare_by_their_spellings():
    assert Option("a=1", "--a") == Option("a=1", "--a") and len({Option("a=1", "--a"), Option("a=1", "--a")}) == 1

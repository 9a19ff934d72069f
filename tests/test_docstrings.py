"""Docstrings that answer Shift-Tab: every public function and class says its parameters, what it returns and
what it raises, in numpydoc sections (read with numpydoc's own parser, as Sphinx's napoleon reads them)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from numpydoc.docscrape import ClassDoc, FunctionDoc, NumpyDocString

import regkit

PACKAGES = ["regkit", "regkit.analysis", "regkit.diagnosis", "regkit.display", "regkit.lab"]


def public_callables() -> Iterator[tuple[str, Callable[..., Any]]]:
    """Each public function and class once, by the first name it is exported under."""
    seen: set[int] = set()
    for name in PACKAGES:
        package = importlib.import_module(name)
        for public in package.__all__:
            value = getattr(package, public)
            if inspect.ismodule(value) or not callable(value) or id(value) in seen:
                continue
            seen.add(id(value))
            yield f"{name}.{public}", value


def inherits_its_constructor(value: Callable[..., Any]) -> bool:
    """An error class taking what RegkitError takes (documented there, once), or a warning taking a message."""
    return (
        inspect.isclass(value)
        and (issubclass(value, regkit.RegkitError) or issubclass(value, Warning))
        and value is not regkit.RegkitError
        and "__init__" not in vars(value)
    )


def documented(doc: NumpyDocString, *sections: str) -> set[str]:
    """The names a numpydoc section lists (``left, right : str`` lists two; ``**options`` keeps its stars)."""
    return {part.strip() for section in sections for item in doc[section] for part in item.name.split(",")}


def missing(name: str, value: Callable[..., Any]) -> list[str]:
    """What the docstring of ``value`` leaves out."""
    if inherits_its_constructor(value):
        return []
    parameters = [
        ("**" if p.kind is p.VAR_KEYWORD else "*" if p.kind is p.VAR_POSITIONAL else "") + p.name
        for p in inspect.signature(value).parameters.values()
        if p.name not in ("self", "cls")
    ]
    if inspect.isclass(value):
        # A class built by the caller lists Parameters; a result regkit builds lists its fields as Attributes.
        doc: NumpyDocString = ClassDoc(value, config={"show_class_members": False})
        gaps = [f"parameter {p}" for p in parameters if p not in documented(doc, "Parameters", "Attributes")]
    else:
        doc = FunctionDoc(value)
        gaps = [f"parameter {p}" for p in parameters if p not in documented(doc, "Parameters", "Other Parameters")]
        gaps += [] if doc["Returns"] or doc["Yields"] else ["a Returns section"]
        gaps += [] if doc["Raises"] else ["a Raises section"]
    gaps += [] if doc["Summary"] else ["a one-line summary"]
    return [f"{name}: {gap}" for gap in gaps]


@pytest.mark.parametrize("name", [name for name, _ in public_callables()])
def test_every_public_function_and_class_documents_its_parameters_returns_and_raises(name: str):
    value = dict(public_callables())[name]
    assert missing(name, value) == []


def public_methods() -> Iterator[tuple[str, Callable[..., Any]]]:
    """Each public method (static and class methods too) of a public class, by its class's name."""
    for name, value in public_callables():
        if not inspect.isclass(value):
            continue
        # What the class defines and what it inherits from regkit's own classes (a Repository is a Fetcher).
        own = [klass for klass in value.__mro__ if klass.__module__.startswith("regkit.")]
        members = {attribute: member for klass in reversed(own) for attribute, member in vars(klass).items()}
        for attribute, member in members.items():
            function = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
            if not attribute.startswith("_") and inspect.isfunction(function):
                yield f"{name}.{attribute}", getattr(value, attribute)


def missing_in_method(name: str, method: Callable[..., Any]) -> list[str]:
    """What a method's docstring leaves out: its parameters, and a Returns section unless it returns None.

    A method raising nothing needs no Raises section (numpydoc's rule); those that do list theirs.
    """
    parameters = [
        ("**" if p.kind is p.VAR_KEYWORD else "*" if p.kind is p.VAR_POSITIONAL else "") + p.name
        for p in inspect.signature(method).parameters.values()
        if p.name not in ("self", "cls")
    ]
    doc = FunctionDoc(method)
    gaps = [f"parameter {p}" for p in parameters if p not in documented(doc, "Parameters", "Other Parameters")]
    returns_none = inspect.signature(method).return_annotation in (None, "None")
    gaps += [] if returns_none or doc["Returns"] or doc["Yields"] else ["a Returns section"]
    gaps += [] if doc["Summary"] else ["a one-line summary"]
    return [f"{name}: {gap}" for gap in gaps]


@pytest.mark.parametrize("name", [name for name, _ in public_methods()])
def test_every_public_method_documents_its_parameters_and_returns(name: str):
    assert missing_in_method(name, dict(public_methods())[name]) == []


def test_the_check_finds_what_a_docstring_leaves_out():
    def bare(ref: str, *, client: object = None, **options: object) -> str:
        """One line only."""
        return ref

    assert missing("bare", bare) == [
        "bare: parameter ref",
        "bare: parameter client",
        "bare: parameter **options",
        "bare: a Returns section",
        "bare: a Raises section",
    ]
    assert missing("resolve", regkit.resolve) == []


def test_the_method_check_finds_what_a_docstring_leaves_out():
    class Bare:
        def fetch(self, digest: str, *, dest: str = ".") -> bytes:
            """One line only."""
            return b""

        def forget(self) -> None:
            """Returns nothing, so says nothing of it."""

    assert missing_in_method("Bare.fetch", Bare().fetch) == [
        "Bare.fetch: parameter digest",
        "Bare.fetch: parameter dest",
        "Bare.fetch: a Returns section",
    ]
    assert missing_in_method("Bare.forget", Bare().forget) == []

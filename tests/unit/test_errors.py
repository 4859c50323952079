"""One exception root: every exception class the project defines derives from AIQLeadsError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from streams.errors import AIQLeadsError, LeadRejected

PACKAGES = ("streams", "agents", "infra", "api", "schemas")


def _our_exceptions() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, BaseException) and cls.__module__.split(".")[0] in PACKAGES:
                    found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return [found[name] for name in sorted(found)]


EXCEPTIONS = _our_exceptions()


def test_many_are_found() -> None:
    assert len(EXCEPTIONS) > 20
    assert LeadRejected in EXCEPTIONS


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda cls: cls.__qualname__)
def test_derives_from_the_root(cls: type[BaseException]) -> None:
    assert issubclass(cls, AIQLeadsError)

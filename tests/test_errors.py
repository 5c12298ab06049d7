"""The error hierarchy as values: every error pickles and copies with its fields (a notebook
that sends work to another process, ``copy.deepcopy``, and pandas ``attrs`` all need it)."""

from __future__ import annotations

import copy
import pickle

import pytest

import nrps_nb
from nrps_nb import BadResponse, IncompleteRoster, NrpsNbError, TokenError


def _all_errors() -> list[type[NrpsNbError]]:
    return [e for e in vars(nrps_nb).values() if isinstance(e, type) and issubclass(e, NrpsNbError)]


def test_the_public_api_exports_every_error() -> None:
    found, todo = set(), [NrpsNbError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    assert found == set(_all_errors())


def _examples() -> list[NrpsNbError]:
    cause = BadResponse("page 2 was HTML", url="https://lms.example.edu/m?p=2", status=200)
    partial = IncompleteRoster(
        "stopped after 1 page",
        members=[{"user_id": "u1"}],
        resume_url="https://lms.example.edu/m?p=2",
        cause=cause,
        pages=1,
        url="https://lms.example.edu/m",
    )
    token = TokenError("refused", error="invalid_client", error_description="unknown key")
    plain = [cls("what went wrong") for cls in _all_errors() if cls not in (IncompleteRoster,)]
    return [*plain, cause, partial, token]


@pytest.mark.parametrize("error", _examples(), ids=lambda e: type(e).__name__)
def test_every_error_pickles_and_copies_with_its_fields(error: NrpsNbError) -> None:
    for twin in (pickle.loads(pickle.dumps(error)), copy.copy(error)):  # noqa: S301 (our own bytes)
        assert _same(twin, error)


def _same(a: object, b: object) -> bool:
    """Equal values; errors (which compare by identity) by type, message and fields."""
    if isinstance(a, BaseException) and isinstance(b, BaseException):
        return (
            type(a) is type(b)
            and str(a) == str(b)
            and vars(a).keys() == vars(b).keys()
            and all(_same(v, vars(b)[k]) for k, v in vars(a).items())
        )
    return a == b


def test_an_incomplete_roster_is_not_copied_deeply() -> None:
    """fetch_rosters keeps these in DataFrame.attrs, which pandas deep-copies on every
    operation: the members and the partial frame are shared, not copied each time."""
    partial = _examples()[-2]
    assert isinstance(partial, IncompleteRoster)
    assert copy.deepcopy({"x": partial})["x"] is partial

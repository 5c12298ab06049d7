"""Link-header parsing (RFC 8288 plus Moodle's bare form) and query merging."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nrps_nb.http import links_by_rel, merge_query, parse_link_header, same_origin

PAYLOADS = Path(__file__).resolve().parent / "fixtures" / "payloads"


def _headers(name: str) -> dict[str, str]:
    return json.loads((PAYLOADS / f"{name}.headers.json").read_text())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('<https://x/a?p=2>; rel="next"', {"next": "https://x/a?p=2"}),
        ("<https://x/a?p=2>; rel=next", {"next": "https://x/a?p=2"}),  # unquoted rel
        ('<https://x/a?p=2>; REL="NEXT"', {"next": "https://x/a?p=2"}),  # any case
        ('<https://x/a>; rel="next last"', {"next": "https://x/a", "last": "https://x/a"}),
        (
            '<https://x/a;b=c?q=1,2>; rel="next"',
            {"next": "https://x/a;b=c?q=1,2"},
        ),  # ; and , in URL
        ('<https://x/A/B?Cursor=AbC%2Fd>; rel="next"', {"next": "https://x/A/B?Cursor=AbC%2Fd"}),
        ('<https://x/1>; title="a, b; c"; rel="next"', {"next": "https://x/1"}),  # quoted params
        (
            '<https://x/1>; rel="prev", <https://x/3>; rel="next"',
            {"prev": "https://x/1", "next": "https://x/3"},
        ),  # fmt: skip
        (
            "https://m/memberships?limit=2&from=2;rel=next",
            {"next": "https://m/memberships?limit=2&from=2"},
        ),
        (
            'https://m/memberships?limit=2&from=2; rel="next"',
            {"next": "https://m/memberships?limit=2&from=2"},
        ),
        ('<https://x/2>;\n rel="next"', {"next": "https://x/2"}),  # newline inside
        ('<https://x/2>; rel="next"; rel="prev"', {"next": "https://x/2"}),  # first rel counts
        ('<https://x/2>; anchor="#a"; rel="next"', {}),  # anchored links are not about us
        ("<https://x/2>", {}),
        ("", {}),
        ("garbage;;;,,,<", {}),
    ],
)
def test_link_forms(value: str, expected: dict[str, str]) -> None:
    assert links_by_rel(value) == expected


def test_several_headers_and_relative_urls() -> None:
    rels = links_by_rel(['</api/m?page=2>; rel="next"', '<?since=5>; rel="differences"'],
                        base_url="https://lms.example.edu/api/m?page=1")  # fmt: skip
    assert rels == {
        "next": "https://lms.example.edu/api/m?page=2",
        "differences": "https://lms.example.edu/api/m?since=5",
    }


@pytest.mark.parametrize(
    ("name", "rel", "url"),
    [
        ("canvas-nrps-response-public", "next",
         "https://school.instructure.com/api/lti/courses/319/names_and_roles?page=2&per_page=50"),
        ("moodle-nrps-response", "next",
         "https://moodle.example.edu/mod/lti/services.php/CourseSection/2/bindings/3/memberships?limit=2&from=2"),
        ("blackboard-nrps-response", "differences",
         "https://learn.example.edu/learn/api/v1/lti/external/namesandroles/_4_1?since=2025-01-01T00%3A00%3A00.000Z"),
        ("openedx-nrps-response", "next",
         "https://courses.example.org/api/lti_consumer/v1/lti/42/memberships?limit=2&page=2"),
    ],
)  # fmt: skip
def test_real_platform_link_headers(name: str, rel: str, url: str) -> None:
    assert links_by_rel(_headers(name)["Link"])[rel] == url


def test_link_keeps_params() -> None:
    (link,) = parse_link_header('<https://x/>; rel="next"; type="application/json"')
    assert link.params["type"] == "application/json"


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_link_parser_never_raises(value: str) -> None:
    for link in parse_link_header(value, base_url="https://lms.example.edu/x"):
        assert isinstance(link.url, str)
        assert all(r == r.lower() and r for r in link.rels)


_url_chars = st.text(
    alphabet=st.characters(
        whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters="-._~%/?=&;,:+"
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(_url_chars, st.sampled_from(["next", "differences", "next last"]))
def test_bracketed_urls_come_back_verbatim(path: str, rel: str) -> None:
    url = "https://lms.example.edu/" + path.replace(">", "")
    found = parse_link_header(f'<{url}>; rel="{rel}"')
    assert [(link.url, link.rels) for link in found] == [(url, tuple(rel.split()))]


@pytest.mark.parametrize(
    ("url", "params", "expected"),
    [
        ("https://m/x", {"limit": 50}, "https://m/x?limit=50"),
        ("https://m/x?ctx=44", {"limit": 50}, "https://m/x?ctx=44&limit=50"),
        ("https://m/x?ctx=44&limit=10", {"limit": 50}, "https://m/x?ctx=44&limit=50"),
        (
            "https://m/x?a=%2F&B=C",
            {"role": "http://purl/x#Learner"},
            "https://m/x?a=%2F&B=C&role=http%3A%2F%2Fpurl%2Fx%23Learner",
        ),  # fmt: skip
        ("https://m/x?ctx=44", {"role": None}, "https://m/x?ctx=44"),
        ("https://m/x?tlid=1#frag", {"rlid": "r 1"}, "https://m/x?tlid=1&rlid=r+1#frag"),
    ],
)
def test_merge_query(url: str, params: dict[str, object], expected: str) -> None:
    assert merge_query(url, params) == expected  # type: ignore[arg-type]


def test_same_origin() -> None:
    assert same_origin("https://a.edu/x", "https://A.edu:443/y")
    assert not same_origin("https://a.edu/x", "http://a.edu/x")
    assert not same_origin("https://a.edu/x", "https://a.edu.evil.com/x")
    assert not same_origin("https://a.edu/x", "https://a.edu:8443/x")

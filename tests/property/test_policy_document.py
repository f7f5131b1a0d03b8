"""Any valid policy survives the JSON document exactly; any mangled document fails cleanly."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.policy.samples import BASES
from tests.unit.policy.strategies import policies

from rsvault.errors import Code, RsvaultError
from rsvault.policy import Policy, parse_policy, policy_document, validate_policy


@given(policies())
def test_every_valid_policy_round_trips_through_json(policy: Policy) -> None:
    assert validate_policy(policy, "p") is policy
    text = json.dumps(policy_document(policy))
    assert parse_policy(json.loads(text), "p") == policy


def _paths(node: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out: list[tuple[str | int, ...]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((*prefix, key))
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.append((*prefix, index))
            out.extend(_paths(value, (*prefix, index)))
    return out


# a small alphabet: plenty for wrong values, and no slow first build of the Unicode tables
letters = st.text(alphabet="aSdLy:0159 /_", max_size=12)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10000),
    st.floats(allow_nan=False),
    letters,
    st.sampled_from(["Last", "Sunday", "January", "First", "02:30", "Hourly", "Enhanced"]),
    st.lists(st.integers(0, 31), max_size=3),
    st.dictionaries(letters, st.integers(), max_size=2),
)


@settings(max_examples=300)
@given(st.sampled_from(sorted(BASES)), st.data())
def test_a_mangled_document_parses_or_fails_with_policy_invalid(
    base: str, data: st.DataObject
) -> None:
    document = copy.deepcopy(BASES[base])
    path = data.draw(st.sampled_from(_paths(document)))
    node: Any = document
    for key in path[:-1]:
        node = node[key]
    if data.draw(st.booleans()):
        node[path[-1]] = data.draw(junk)
    else:
        del node[path[-1]]
    try:
        policy = parse_policy(document, "mangled")
    except RsvaultError as error:
        failed: RsvaultError | None = error
    else:
        failed = None
        assert parse_policy(policy_document(policy), "mangled") == policy
    if failed is not None:
        assert failed.code is Code.POLICY_INVALID
        assert isinstance(failed.params["field"], str)
        assert failed.params["field"]

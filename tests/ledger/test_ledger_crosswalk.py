"""Crosswalk: canonical id <-> each tool's id, unique both ways per tool and object kind."""

from __future__ import annotations

import pytest
from ledger_builders import T0

from kickoff.ledger import CrosswalkConflict, Ledger


def test_crosswalk_links_both_ways_and_relinking_is_a_no_op(ledger: Ledger) -> None:
    assert ledger.link("ob-1", "hubspot", "deal-1", "deal", now=T0) is True
    assert ledger.link("ob-1", "hubspot", "deal-1", "deal", now=T0) is False
    ledger.link("ob-1", "zendesk", "org-9", "organization", now=T0)

    assert ledger.canonical_for("hubspot", "deal-1") == "ob-1"
    assert ledger.external_for("ob-1", "hubspot", "deal") == "deal-1"
    assert ledger.external_for("ob-1", "zendesk") == "org-9"
    assert ledger.canonical_for("hubspot", "deal-2") is None


def test_crosswalk_refuses_a_second_link_on_either_side(ledger: Ledger) -> None:
    ledger.link("ob-1", "hubspot", "deal-1", "deal", now=T0)

    with pytest.raises(CrosswalkConflict):
        ledger.link("ob-1", "hubspot", "deal-2", "deal", now=T0)
    with pytest.raises(CrosswalkConflict):
        ledger.link("ob-2", "hubspot", "deal-1", "deal", now=T0)
    assert ledger.canonical_for("hubspot", "deal-2") is None


def test_same_external_id_as_two_object_kinds_needs_the_kind_to_look_up(ledger: Ledger) -> None:
    ledger.link("ob-1", "hubspot", "123", "deal", now=T0)
    ledger.link("tk-1", "hubspot", "123", "ticket", now=T0)

    assert ledger.canonical_for("hubspot", "123", "ticket") == "tk-1"
    with pytest.raises(CrosswalkConflict, match="name the object kind"):
        ledger.canonical_for("hubspot", "123")

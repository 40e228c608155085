"""Business days honour the tenant's public holidays and closed days (kickoff.calendar)."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from kickoff.calendar import Calendar
from kickoff.settings import TenantsFile
from kickoff.yamlfile import load_yaml_model
from tests.playbooks.conftest import ROOT, ev, run, t

SWEDEN = Calendar(country="SE", categories=("public", "de_facto"))


@pytest.mark.parametrize(("calendar", "day", "name"), [
    (SWEDEN, date(2025, 6, 20), "Midsummer Eve"),  # Midsommarafton: offices close
    (Calendar(country="FR"), date(2025, 7, 14), "National Day"),  # 14 juillet
    (Calendar(country="BR"), date(2025, 4, 21), "Tiradentes' Day"),
])
def test_given_a_public_holiday_then_it_is_no_business_day(calendar, day, name):
    assert calendar.holiday(day) == name
    assert not calendar.is_business_day(day)
    assert calendar.add_business_days(date.fromordinal(day.toordinal() - 1), 1) != day
    assert Calendar().is_business_day(day)  # no country: Monday to Friday only


def test_given_the_day_before_14_juillet_then_one_business_day_later_is_the_15th():
    assert Calendar(country="FR").add_business_days(date(2025, 7, 11), 1) == date(2025, 7, 15)  # Fri -> Tue
    assert Calendar(country="FR").add_business_days(date(2025, 7, 15), -1) == date(2025, 7, 11)


def test_given_closed_days_then_they_are_skipped_too():
    closed = Calendar(country="FR", closed_days=frozenset({date(2025, 12, 24), date(2025, 12, 26)}))
    assert closed.add_business_days(date(2025, 12, 23), 1) == date(2025, 12, 29)
    assert closed.holiday(date(2025, 12, 24)) == "closed"


def test_given_an_unknown_country_or_category_then_the_calendar_is_refused():
    with pytest.raises(ValidationError, match="a country the holidays package knows"):
        Calendar(country="XX")
    with pytest.raises(ValidationError, match="Category is not supported"):
        Calendar(country="SE", categories=("nope",))


def test_every_tenant_names_its_country():
    tenants = load_yaml_model(ROOT / "config" / "tenants.yaml", TenantsFile).tenants
    assert {key: tenant.calendar.country for key, tenant in tenants.items() if tenant.calendar} == {
        "network": "FR", "marketplace": "FR", "assist": "SE", "retention": "FR", "core": "BR"}


def test_given_the_tenants_calendar_then_the_playbook_counts_its_business_days(playbooks):
    """The tenant's calendar wins over the playbook's: a French network closed on 15 July."""
    pb = playbooks["network-onboarding"]
    signup = {"account_name": "Gîte Exemple", "origin": "diy", "email": "gite@example.com"}
    events = [ev("account.created", "2025-07-09T10:00:00+02:00", signup),
              ev("meeting.booked", "2025-07-09T11:00:00+02:00", {"meeting_id": "r-1", "start": "2025-07-10T14:00:00+02:00"}),
              ev("meeting.completed", "2025-07-10T15:00:00+02:00", {"meeting_id": "r-1"})]
    default = run(pb, events, until="2025-07-31T00:00:00+02:00")
    closed = Calendar(country="FR", closed_days=frozenset({date(2025, 7, 15)}))
    tenant = run(pb, events, until="2025-07-31T00:00:00+02:00", calendar=closed)
    due = [a.at for a in default.actions if a.action.rule == "E6" and a.action.kind == "create_task"]
    due_closed = [a.at for a in tenant.actions if a.action.rule == "E6" and a.action.kind == "create_task"]
    assert due == [t("2025-07-18T10:00:00+02:00")]  # 5 business days: 14 juillet skipped
    assert due_closed == [t("2025-07-21T10:00:00+02:00")]  # and the tenant's closed 15th too

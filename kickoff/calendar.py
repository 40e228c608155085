"""Working days of a tenant: weekends, the country's public holidays, and extra closed days.

'Two business days later' means two days the team works: Midsommarafton in Sweden, the
14th of July in France or Tiradentes in Brazil are not among them. Public holidays come
from the ``holidays`` package (the country, optionally a subdivision, and the categories the
team keeps: Swedish offices close on Midsommarafton, which the package files as *de facto*).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import Any

import holidays
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kickoff.memo import IdentityMemo

WEEKEND = (5, 6)  # Saturday, Sunday


class Calendar(BaseModel):
    """Which days count as business days. With no country, Monday to Friday all do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str | None = Field(default=None, description="ISO 3166 code: SE, FR, BR")
    subdivision: str | None = Field(default=None, description="a region with holidays of its own (BR: SP)")
    categories: tuple[str, ...] = Field(default=("public",), description="holidays' categories kept")
    closed_days: frozenset[date] = Field(default=frozenset(), description="extra days the team does not work")

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is not None and value.upper() not in holidays.list_supported_countries():
            raise ValueError(f"a country the holidays package knows (SE, FR, BR ...), got {value!r}")
        return value.upper() if value else value

    @model_validator(mode="after")
    def _known_categories(self) -> Calendar:
        if self.country is not None:
            try:
                _holidays(self.country, self.subdivision, self.categories)
            except (NotImplementedError, ValueError) as exc:
                raise ValueError(f"calendar of {self.country}: {exc}") from None
        return self

    def holiday(self, day: date) -> str | None:
        """The name of the public holiday or closed day ``day`` is, else None."""
        if day in self.closed_days:
            return "closed"
        if self.country is None:
            return None
        return _holidays(self.country, self.subdivision, self.categories).get(day)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() not in WEEKEND and self.holiday(day) is None

    def add_business_days(self, day: date, count: int) -> date:
        """Move ``count`` business days (negative moves back); 0 leaves ``day`` as it is.
        Worked out once per (day, count) for this calendar: every onboarding's timers ask the
        same few (the holiday lookups were a tenth of a decision)."""
        return _MOVES.get(self, (day, count), self._move, day, count)

    def _move(self, day: date, count: int) -> date:
        step = 1 if count >= 0 else -1
        remaining = abs(count)
        while remaining:
            day += timedelta(days=step)
            if self.is_business_day(day):
                remaining -= 1
        return day


_MOVES: IdentityMemo[date] = IdentityMemo(kept=50_000)
"""Per calendar: (day, count) -> the day ``count`` business days on."""

WEEKDAYS = Calendar()
"""Monday to Friday, no holidays: the default when neither tenant nor playbook names a country."""


@lru_cache(maxsize=64)
def _holidays(country: str, subdivision: str | None, categories: tuple[str, ...]) -> Any:
    """One holidays object per calendar (it fills in years as they are asked for)."""
    return holidays.country_holidays(country, subdiv=subdivision, categories=categories)

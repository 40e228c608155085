"""What a tool's live account holds that a mapping table refers to: the typed description a
connector's ``discover`` returns (Airbyte's ``discover``), and what ``check`` found.

One shape for every tool, so the mappings can match names and verify ids without knowing the
vendor's API: pipelines and their stages, people (owners, users, agents) and whether they are
active, fields (properties, custom fields) with their type and options, groups, projects with
sections, channels and statuses. A part a tool cannot list completely (Movidesk's statuses are
only seen on tickets) is named in ``partial``: nothing is reported missing from it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FieldType = Literal["text", "number", "bool", "date", "datetime", "enum", "multi_enum", "reference",
                    "other"]
"""A field's type in the tools' common terms (a HubSpot ``bool``, a Salesforce ``boolean``, a
Zendesk ``checkbox`` are all ``bool``)."""


def name_key(text: str) -> str:
    """A name as matched: accents, case, dashes and spacing do not matter ("Onboarding – Pågår"
    is "onboarding - pagar")."""
    plain = unicodedata.normalize("NFKD", str(text))
    plain = "".join(c for c in plain if not unicodedata.combining(c)).casefold()
    plain = re.sub(r"[\u2010-\u2015_]", "-", plain)
    return re.sub(r"\s+", " ", plain.replace("#", "")).strip()


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Option(_Part):
    """A value a field may take (or a stage, a section: something with an id and a name)."""

    id: str
    name: str
    active: bool = True


class Stage(Option):
    closed: bool = False


class Pipeline(_Part):
    id: str
    name: str
    object: str = "tickets"
    stages: list[Stage] = Field(default_factory=list)

    def stage(self, stage_id: str) -> Stage | None:
        return next((s for s in self.stages if s.id == str(stage_id)), None)


class Person(_Part):
    """An owner, user or agent: who an owner role can stand for."""

    id: str
    name: str = ""
    email: str | None = None
    active: bool = True
    teams: list[str] = Field(default_factory=list)
    """Teams, groups, titles or departments: what a role's name may be found in."""

    def names(self) -> set[str]:
        """Every name a role may match: the person's name, the e-mail and its local part, teams."""
        found = {self.name, *self.teams}
        if self.email:
            found |= {self.email, self.email.split("@", 1)[0]}
        return {name_key(n) for n in found if n}


class AccountField(_Part):
    """A property or (custom) field of one object."""

    object: str
    name: str
    """The name the API writes it under (property name, API name, field id)."""
    label: str = ""
    type: FieldType = "text"
    options: list[Option] = Field(default_factory=list)

    def option_values(self) -> set[str]:
        return {o.id for o in self.options if o.active}


class Project(_Part):
    id: str
    name: str
    sections: list[Option] = Field(default_factory=list)
    fields: list[str] = Field(default_factory=list)
    """Ids of the custom fields the project shows (Asana)."""


class Status(_Part):
    name: str
    base: str | None = None
    justifications: list[str] = Field(default_factory=list)


class Account(_Part):
    """One tool's account as ``Connector.discover`` read it."""

    tool: str
    id: str | None = None
    """The account's own id: HubSpot portal, Salesforce org, Zendesk account, Asana workspace."""
    name: str | None = None
    pipelines: list[Pipeline] = Field(default_factory=list)
    people: list[Person] = Field(default_factory=list)
    fields: list[AccountField] = Field(default_factory=list)
    groups: list[Option] = Field(default_factory=list)
    projects: list[Project] = Field(default_factory=list)
    channels: list[Option] = Field(default_factory=list)
    statuses: list[Status] = Field(default_factory=list)
    partial: list[str] = Field(default_factory=list)
    """Parts read only in part: nothing is called missing from them."""

    # --- lookups by id ------------------------------------------------------------------------
    def pipeline(self, pipeline_id: str) -> Pipeline | None:
        return next((p for p in self.pipelines if p.id == str(pipeline_id)), None)

    def person(self, person_id: str) -> Person | None:
        return next((p for p in self.people if p.id == str(person_id)), None)

    def field(self, obj: str, name: str) -> AccountField | None:
        return next((f for f in self.fields if f.object == obj and f.name == str(name)), None)

    def project(self, project_id: str) -> Project | None:
        return next((p for p in self.projects if p.id == str(project_id)), None)

    def group(self, group_id: str) -> Option | None:
        return next((g for g in self.groups if g.id == str(group_id)), None)

    def channel(self, channel_id: str) -> Option | None:
        return next((c for c in self.channels if c.id == str(channel_id)), None)

    def status(self, name: str) -> Status | None:
        return next((s for s in self.statuses if s.name == name), None)


def by_name(items: Iterable[Option | Stage | Pipeline | Project | AccountField | Person],
            names: str | Sequence[str]) -> list[str]:
    """The ids (``name`` for a field) of the items one of ``names`` names, best name first:
    exact matches of the first name, then of the next, and so on."""
    wanted = [names] if isinstance(names, str) else list(names)
    pool = list(items)
    found: list[str] = []
    for name in wanted:
        key = name_key(name)
        for item in pool:
            if isinstance(item, Person):
                hit, ident = key in item.names(), item.id
            elif isinstance(item, AccountField):
                hit, ident = key in {name_key(item.label), name_key(item.name)}, item.name
            else:
                hit, ident = name_key(item.name) == key, item.id
            if hit and ident not in found:
                found.append(ident)
        if found:
            return found
    return found

"""The three rates the city reports for 接诉即办, per month and per handler. Pure.

Definitions (docs/petitions.md): a petition counts in the month it was filed (court-local calendar month) and for
its current handler; a reopened petition counts once, by its latest cycle.

- response rate (响应率) = petitions whose first contact with the citizen came before the deadline
  ÷ petitions that were contacted or whose deadline has passed (those still inside their deadline and not yet
  contacted are not yet measurable, so a fresh month does not look bad);
- resolution rate (解决率) = petitions answered with the outcome "resolved" ÷ petitions answered;
- satisfaction rate (满意率) = petitions rated "satisfied" or "basically satisfied" ÷ petitions rated.

Each is a fraction (numerator, denominator); the rate is None when nothing is measurable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from petitions.rules import Outcome, Petition, Rating


@dataclass(frozen=True, slots=True)
class Fraction:
    numerator: int = 0
    denominator: int = 0

    @property
    def rate(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    def add(self, hit: bool) -> Fraction:
        return Fraction(self.numerator + hit, self.denominator + 1)


@dataclass(frozen=True, slots=True)
class Rates:
    petitions: int = 0
    response: Fraction = field(default_factory=Fraction)
    resolution: Fraction = field(default_factory=Fraction)
    satisfaction: Fraction = field(default_factory=Fraction)


def add(r: Rates, p: Petition, now: datetime) -> Rates:
    response, resolution, satisfaction = r.response, r.resolution, r.satisfaction
    if p.first_contact_at is not None:
        response = response.add(p.first_contact_at < p.due_at)
    elif now >= p.due_at:
        response = response.add(False)
    if p.replied_at is not None:
        resolution = resolution.add(p.outcome is Outcome.RESOLVED)
    if p.rating is not None:
        satisfaction = satisfaction.add(p.rating in (Rating.SATISFIED, Rating.BASICALLY))
    return Rates(r.petitions + 1, response, resolution, satisfaction)


def month_of(p: Petition, tz: ZoneInfo) -> str:
    """YYYY-MM of the filing, in the court's time zone."""
    return p.filed_at.astimezone(tz).strftime("%Y-%m")


def rates(petitions: Iterable[Petition], now: datetime) -> Rates:
    out = Rates()
    for p in petitions:
        out = add(out, p, now)
    return out


def by_month_and_handler(petitions: Iterable[Petition], now: datetime,
                         tz: ZoneInfo) -> dict[tuple[str, str | None], Rates]:
    """(month, handler id or None for unassigned) → rates. Totals per month are `by_month`."""
    out: dict[tuple[str, str | None], Rates] = {}
    for p in petitions:
        key = (month_of(p, tz), p.handler_id)
        out[key] = add(out.get(key, Rates()), p, now)
    return dict(sorted(out.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")))


def by_month(petitions: Iterable[Petition], now: datetime, tz: ZoneInfo) -> dict[str, Rates]:
    out: dict[str, Rates] = {}
    for p in petitions:
        key = month_of(p, tz)
        out[key] = add(out.get(key, Rates()), p, now)
    return dict(sorted(out.items()))

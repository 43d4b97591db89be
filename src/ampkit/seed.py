"""Deterministic, realistic demo data: users with properties, sessions, a sign-up → activation →
purchase funnel with drop-off, revenue, several platforms and countries, retention that decays.

The same ``SeedSpec`` always yields the same events (same ``insert_id`` s), so seeding twice
stores each event once.  Events are yielded one user at a time (a stream, not a list).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PLATFORMS = (("iOS", "ios", "Apple", "iPhone15,2"), ("Android", "android", "Google", "Pixel 8"),
             ("Web", "Chrome", None, None))
COUNTRIES = ("United States", "France", "Germany", "Japan", "Brazil", "India")
PRODUCTS = (("sku-basic", 4.99), ("sku-pro", 9.99), ("sku-team", 29.0))
BROWSE_EVENTS = ("View Item", "Search", "Add to Cart", "Share")


class SeedSpec(BaseModel):
    """What to generate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    users: int = Field(default=1000, ge=1, le=10_000_000)
    days: int = Field(default=30, ge=1, le=3650)
    end: dt.date | None = None
    """Last day (UTC) with events; default yesterday."""
    seed: int = 7
    activation_rate: float = Field(default=0.6, ge=0, le=1)
    purchase_rate: float = Field(default=0.3, ge=0, le=1)
    """Share of activated users who buy."""
    daily_return: float = Field(default=0.35, ge=0, le=1)
    """Chance that a user comes back on a given day right after signing up (decays)."""

    def last_day(self) -> dt.date:
        return self.end or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))

    def first_day(self) -> dt.date:
        return self.last_day() - dt.timedelta(days=self.days - 1)


def _ms(day: dt.date, seconds: float) -> int:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return int(start.timestamp() * 1000 + seconds * 1000)


def user_events(spec: SeedSpec, index: int) -> list[dict[str, Any]]:
    """Every event of one user, in time order (deterministic per ``spec.seed`` and index)."""
    rng = random.Random(f"{spec.seed}:{index}")
    user_id = f"user-{index:07d}"
    device_id = f"device-{rng.getrandbits(64):016x}"
    platform, os_name, brand, model = rng.choice(PLATFORMS)
    country = rng.choice(COUNTRIES)
    signup = spec.first_day() + dt.timedelta(days=rng.randrange(spec.days))
    base: dict[str, Any] = {"user_id": user_id, "device_id": device_id, "platform": platform,
            "os_name": os_name, "country": country, "app_version": rng.choice(
                ("1.0.0", "1.1.0", "2.0.0")), "language": "English"}
    if brand:
        base.update(device_brand=brand, device_model=model)
    events: list[dict[str, Any]] = []
    counter = 0

    def add(event_type: str, at: int, session: int, **extra: Any) -> None:
        nonlocal counter
        counter += 1
        events.append({**base, "event_type": event_type, "time": at, "session_id": session,
                       "insert_id": f"seed-{spec.seed}-{index}-{counter}", **extra})

    activated = rng.random() < spec.activation_rate
    buyer = activated and rng.random() < spec.purchase_rate
    day = signup
    first = True
    while day <= spec.last_day():
        offset = rng.uniform(7 * 3600, 22 * 3600)
        session = _ms(day, offset)
        at = session
        if first:
            add("Sign Up", at, session, event_properties={"method": rng.choice(
                ("email", "google", "apple"))},
                user_properties={"$set": {"plan": "free"}, "$setOnce": {
                    "signup_platform": platform, "signup_date": day.isoformat()}})
            at += rng.randint(5_000, 120_000)
            if activated:
                add("Activate", at, session, event_properties={"step": "profile"})
                at += rng.randint(5_000, 60_000)
        else:
            add("Open App", at, session)
            at += rng.randint(2_000, 30_000)
        for _ in range(rng.randint(1, 5)):
            add(rng.choice(BROWSE_EVENTS), at, session,
                event_properties={"item": f"item-{rng.randrange(50)}"})
            at += rng.randint(2_000, 90_000)
        if buyer and (first or rng.random() < 0.15):
            sku, price = rng.choice(PRODUCTS)
            quantity = rng.choice((1, 1, 1, 2))
            add("Purchase", at, session, price=price, quantity=quantity, productId=sku,
                revenueType="purchase", event_properties={"sku": sku},
                user_properties={"$set": {"plan": "paid"}, "$add": {"purchases": 1}})
        age = (day - signup).days
        chance = spec.daily_return / (1 + 0.25 * age)
        day += dt.timedelta(days=1)
        first = False
        while day <= spec.last_day() and rng.random() >= chance:
            day += dt.timedelta(days=1)
            age += 1
            chance = spec.daily_return / (1 + 0.25 * age)
    return events


def generate(spec: SeedSpec) -> Iterator[dict[str, Any]]:
    """All events, user after user."""
    for index in range(spec.users):
        yield from user_events(spec, index)

"""Amplitude's hosts, in one place (reference §1.1–1.2): the base URL of each API family per
region (what the client calls) and every hostname Amplitude documents (what ``ampkit serve``
answers as a proxy, see :mod:`ampkit.server.proxy`)."""

from __future__ import annotations

from typing import Final, Literal

Region = Literal["us", "eu"]
Family = Literal["ingest", "analytics", "profile"]

REGION_HOSTS: Final[dict[Region, dict[Family, str | None]]] = {
    "us": {
        "ingest": "https://api2.amplitude.com",
        "analytics": "https://amplitude.com",
        "profile": "https://profile-api.amplitude.com",
    },
    "eu": {
        "ingest": "https://api.eu.amplitude.com",
        "analytics": "https://analytics.eu.amplitude.com",
        "profile": None,  # the User Profile API is not available in the EU (reference §12)
    },
}
"""The base URL of each API family per region (the canonical hosts of reference §1.1)."""

ALTERNATE_HOSTS: Final[dict[str, str]] = {
    "api.amplitude.com": "ingestion host of many doc examples and the node `amplitude` "
                         "package's default tokenEndpoint (reference §1.2, seed 004)",
    "analytics.amplitude.com": "the browser UI; the DSAR output downloads use it "
                               "(reference §1.2)",
}
"""Other hostnames Amplitude's documents use, and where."""

AMPLITUDE_HOSTS: Final[frozenset[str]] = frozenset(
    {url.removeprefix("https://") for family in REGION_HOSTS.values()
     for url in family.values() if url is not None} | ALTERNATE_HOSTS.keys())
"""Every Amplitude hostname (lower case, no port): ``amplitude.com``, ``api.amplitude.com``,
``api2.amplitude.com``, ``analytics.amplitude.com``, ``profile-api.amplitude.com``,
``analytics.eu.amplitude.com``, ``api.eu.amplitude.com``."""

"""In-memory indexes the ingestion path needs on every event, mirrored in DuckDB tables.

- Amplitude ID assignment: one id per user, anonymous devices get their own id and are merged
  into the user's id the first time they show up with a ``user_id``: a device never seen with
  a user becomes that user; a device whose anonymous id is new to a user already known is
  *merged* into the known user's id (:attr:`ProjectState.merged`) — its history is moved to
  that id, so the person counts once, and its later events carry it;
- user and group property state, to which property operations are applied in arrival order.

``insert_id`` deduplication is not kept here: the store looks ids up in the events table itself
(:meth:`ampkit.server.store.Store.recent_insert_ids`), so its memory does not grow with the
number of events and it survives restarts exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DAY_MS = 86_400_000


@dataclass(slots=True)
class UserState:
    """One Amplitude user of one project."""

    project_id: int
    amplitude_id: int
    user_id: str | None = None
    device_id: str | None = None
    user_properties: dict[str, Any] = field(default_factory=dict)
    first_seen_ms: int | None = None
    """Event time of the first event (``user_creation_time``); ``None`` before any event."""
    last_seen_ms: int | None = None
    paying: bool = False
    fields: dict[str, Any] = field(default_factory=dict)
    """Device/location fields last set for the user (platform, country, …)."""


@dataclass(slots=True)
class GroupState:
    project_id: int
    group_type: str
    group_value: str
    group_properties: dict[str, Any] = field(default_factory=dict)


class ProjectState:
    """Identity, dedup and property state of one project."""

    def __init__(self, project_id: int) -> None:
        self.project_id = project_id
        self.by_user: dict[str, int] = {}
        self.by_device: dict[str, int] = {}
        self.users: dict[int, UserState] = {}
        self.groups: dict[tuple[str, str], GroupState] = {}
        self.touched_users: dict[int, UserState] = {}
        self.touched_groups: dict[tuple[str, str], GroupState] = {}
        self.merged: dict[int, int] = {}
        """Anonymous Amplitude ID → the known user's it was merged into."""
        self.touched_merges: list[tuple[int, int]] = []
        """Merges (anonymous id, user's id) made since the last :meth:`take_touched`."""
        self.touched_ids: dict[tuple[str, str], int] = {}
        """Identities (``("u", user_id)`` or ``("d", device_id)`` → Amplitude ID) bound since
        the last :meth:`take_touched`: only these are written, not every touched user's."""
        self.counters: dict[str, int] = {"requests": 0, "duplicates": 0, "rejected": 0,
                                          "faults_injected": 0, "store_failures": 0}
        """This project's ingestion requests and faults since it was created or reset."""

    # --- identities ------------------------------------------------------------------------
    def resolve(
        self, user_id: str | None, device_id: str | None, next_id: int
    ) -> tuple[UserState, bool]:
        """The user an event belongs to; ``True`` when ``next_id`` was used for a new user."""
        if user_id is not None:
            amp = self.by_user.get(user_id)
            if amp is not None:
                user = self.users[amp]
                if device_id is not None:
                    known = self.by_device.get(device_id)
                    if known is None:
                        self._bind_device(device_id, amp)
                    elif known != amp and self.users[known].user_id is None:
                        self._merge(known, device_id, user)
                    user.device_id = device_id
                    self.touch(user)
                return user, False
            anon = self.by_device.get(device_id) if device_id is not None else None
            if anon is not None and self.users[anon].user_id is None:
                user = self.users[anon]  # the anonymous device becomes this user
                user.user_id = user_id
                self.touch(user)
                self._bind_user(user_id, anon)
                return user, False
            user = self._new(next_id, user_id, device_id)
            self._bind_user(user_id, next_id)
            if device_id is not None:
                self._bind_device(device_id, next_id)
            return user, True
        assert device_id is not None
        amp = self.by_device.get(device_id)
        if amp is not None:
            return self.users[amp], False
        user = self._new(next_id, None, device_id)
        self._bind_device(device_id, next_id)
        return user, True

    def _merge(self, anonymous: int, device_id: str, user: UserState) -> None:
        """The anonymous user ``anonymous`` (of the one device ``device_id``: an anonymous
        user is made per device, and never gets another) is ``user`` from now on: the device
        points to the user's id, its history moves there (written by the store), what it was
        (first seen, paying) adds to the user's, and its properties give way to the user's."""
        gone = self.users.pop(anonymous)
        self._bind_device(device_id, user.amplitude_id)
        self.merged[anonymous] = user.amplitude_id
        self.touched_merges.append((anonymous, user.amplitude_id))
        self.touched_users.pop(anonymous, None)
        if gone.first_seen_ms is not None and (user.first_seen_ms is None
                                               or gone.first_seen_ms < user.first_seen_ms):
            user.first_seen_ms = gone.first_seen_ms
        user.paying = user.paying or gone.paying
        self.touch(user)

    def _bind_user(self, user_id: str, amplitude_id: int) -> None:
        self.by_user[user_id] = amplitude_id
        self.touched_ids[("u", user_id)] = amplitude_id

    def _bind_device(self, device_id: str, amplitude_id: int) -> None:
        self.by_device[device_id] = amplitude_id
        self.touched_ids[("d", device_id)] = amplitude_id

    def _new(self, amplitude_id: int, user_id: str | None, device_id: str | None) -> UserState:
        user = UserState(self.project_id, amplitude_id, user_id, device_id)
        self.users[amplitude_id] = user
        self.touch(user)
        return user

    def touch(self, user: UserState) -> None:
        self.touched_users[user.amplitude_id] = user

    def touch_group(self, group: GroupState) -> None:
        self.touched_groups[(group.group_type, group.group_value)] = group

    def user_by_id(self, user_id: str) -> UserState | None:
        amp = self.by_user.get(user_id)
        return None if amp is None else self.users[amp]

    def group(self, group_type: str, group_value: str) -> GroupState:
        key = (group_type, group_value)
        state = self.groups.get(key)
        if state is None:
            state = self.groups[key] = GroupState(self.project_id, group_type, group_value)
        return state

    def take_touched(
        self,
    ) -> tuple[list[UserState], list[GroupState], dict[tuple[str, str], int],
               list[tuple[int, int]]]:
        """Users, groups, identities and merges changed since the last call (to write
        through to DuckDB)."""
        users, groups = list(self.touched_users.values()), list(self.touched_groups.values())
        ids, merges = self.touched_ids, self.touched_merges
        self.touched_users, self.touched_groups, self.touched_ids = {}, {}, {}
        self.touched_merges = []
        return users, groups, ids, merges

"""Test tracking code against ``ampkit serve``: the pytest plugin (``ampkit.testing.plugin``,
registered as the ``pytest11`` entry point ``ampkit``) and the objects its fixtures give.

Importing this package loads nothing heavy (pytest loads the plugin in every run, used or
not); :class:`AmplitudeProject` and :class:`AmplitudeServer` load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ampkit.testing.project import AmplitudeProject, AmplitudeServer

__all__ = ["AmplitudeProject", "AmplitudeServer"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from ampkit.testing import project

        return getattr(project, name)
    raise AttributeError(f"module 'ampkit.testing' has no attribute {name!r}")

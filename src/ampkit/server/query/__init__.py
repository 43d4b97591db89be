"""The Dashboard REST API of the local server, computed with DuckDB SQL from stored events.

One module per family, each stating its semantics: :mod:`.users` (active/new users,
composition, realtime), :mod:`.sessions` (session lengths, events list),
:mod:`.segmentation` (with :mod:`.metrics`), :mod:`.funnels`,
:mod:`.retention`, :mod:`.revenue` (LTV), :mod:`.activity` (user search and activity) and
:mod:`.charts` (saved charts, CSV).  Shared pieces: :mod:`.common` (errors, SQL fragments with
bound parameters, request context), :mod:`.props` (properties, filters and segments as SQL),
:mod:`.clock` (project time zone and interval buckets), :mod:`.series` (the time-series answer
shape).  :mod:`.endpoints` maps each path to its computer and reads each request with the
endpoint's query model — the client's own (:data:`ampkit.models.endpoints.DEFS`), which also
holds the parameters' rules.
"""

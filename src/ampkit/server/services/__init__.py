"""The server's operations without HTTP: plain functions that take a DuckDB connection (or,
for the ingestion and admin paths that work on the whole store, the :class:`Store`) and the
parsed input, run the SQL and return data.  They know nothing of requests or status codes, so
they are tested on an in-memory DuckDB without a server (``tests/server/test_services.py``).

The routes reach them through :class:`~ampkit.server.services.backend.Backend`, which runs each
one in a worker thread: no DuckDB call, and no wait on the store's lock, happens on the event
loop."""

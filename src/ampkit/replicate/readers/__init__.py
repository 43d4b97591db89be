"""One reader per kind of stream: export (events), series (Dashboard), catalog (lists)."""

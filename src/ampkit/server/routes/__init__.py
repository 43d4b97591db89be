"""HTTP routes of the local server: they parse, call a service function and render."""

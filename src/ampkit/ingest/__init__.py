"""Ingestion: validation, the four endpoints, batching, queues and background senders."""

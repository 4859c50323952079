"""Typed records for every topic value, and the ClickHouse DDL.

Topic values travel as JSON encoded and decoded with msgspec (a typed decode is
~5x cheaper than `json.loads`). Timestamps are UTC-aware; epoch milliseconds
where a value is only measured, never shown.
"""

"""The pure processing core: parsers, validation, enrichment, features, models.

Nothing here imports Kafka, Faust, Redis, ClickHouse or touches the network.
Functions take values (and explicit state) and return values.
"""

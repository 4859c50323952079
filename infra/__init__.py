"""Settings, adapters to the outside world (Kafka, Redis, ClickHouse, Stripe) and the local stack.

Everything that does I/O lives here or in `agents/`; `streams/` stays pure.
"""

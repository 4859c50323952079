"""The HTTP API for buyers and operators. It serves from Redis (precomputed by the
agents) and never from Faust tables or ClickHouse in the request path."""

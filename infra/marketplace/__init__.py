"""The marketplace's transaction state in Redis (carts, holds, checkouts, orders, returns,
credit), its audit outbox relayed to Kafka, and the Stripe adapter."""

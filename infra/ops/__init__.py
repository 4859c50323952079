"""Operator tools over the warehouse and Kafka (`aiqleads dlq`)."""

"""Kafka adapters: topic administration and the API's producer."""

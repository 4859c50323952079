"""The marketplace's transaction rules: limits, hold lifetimes, payment events, returns,
and what each audit event teaches the models. Pure: the API and Redis scripts apply them."""

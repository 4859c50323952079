"""Model inputs: per-lead features, and the stateful feature families (behaviour, density,
competitors, clusters, market, penetration) with their stores.
"""

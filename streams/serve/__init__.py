"""Serving: buyer fit, the online recommender, score decay and the ranking placements the serve
agent writes to Redis.
"""

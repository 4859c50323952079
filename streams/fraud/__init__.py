"""The fraud screen: stateless rules, velocity and timing state, an online anomaly model, and the
pull-back of a burst's earlier leads.
"""

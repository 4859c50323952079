"""Online scoring: River models behind a score/learn contract, champion and challenger arms, reason
codes, progressive evaluation.
"""

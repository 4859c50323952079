"""The synthetic traffic simulator behind `aiqleads produce`, `aiqleads buyers` and `aiqleads
evaluate`.

Production code never imports this package (tests/unit/test_import_rules.py keeps it so).
"""

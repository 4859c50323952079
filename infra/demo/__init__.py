"""Demo drivers: synthetic traffic and simulated buyers, sent to Kafka (`aiqleads produce`,
`aiqleads buyers`).
"""

"""Raw source bytes → canonical `Lead`: one module per source, and the decoding, contact,
normalising and geocoding they share.
"""

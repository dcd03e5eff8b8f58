"""The voice path: STAMP session-sender and reflector, RFC 3550 jitter, and G.107 E-model MOS."""

"""Where each count lives in the store's ring arrays, and the MOS histogram's bins.

A ring is a uint32 array shaped (series, slots, fields). Field 0 of every slot is its tag:
the absolute bucket number it holds plus one, so 0 means "never written" and a slot whose tag
is not the bucket being read is stale (it holds a bucket one or more turns of the ring ago).
"""

from __future__ import annotations

# Geometry of a store, passed to the kernels as an int64 array.
GEO_FINE_BUCKET_S = 0
GEO_FINE_SLOTS = 1
GEO_RECENT_SLOTS = 2
GEO_COARSE_BUCKET_S = 3
GEO_COARSE_SLOTS = 4
GEO_FUTURE_SKEW_S = 5
GEO_SIZE = 6

TAG = 0

# Fine ring: minute buckets over the fine span (7 h by default), for burn rates up to 6 h and
# time slices.
FINE_RUNS = 1
FINE_GOOD = 2
FINE_FIELDS = 3

# Recent ring: minute buckets over the last hour, for Apdex 5m/1h, attribution, voice, score.
RECENT_RUNS = 1
RECENT_FAILED = 2
RECENT_SATISFIED = 3
RECENT_TOLERATING = 4
RECENT_BAD_LAYER = 5  # four counts, one per layer index
RECENT_MOS_COUNT = 9  # two counts, outbound then inbound
RECENT_FIELDS = 11

# Coarse ring: hour buckets over the longest SLO period, for 1d, 3d and the period.
COARSE_RUNS = 1
COARSE_GOOD = 2
COARSE_SATISFIED = 3
COARSE_TOLERATING = 4
COARSE_SLICES = 5  # time slices with runs, counted in the bucket holding the slice's start
COARSE_GOOD_SLICES = 6
COARSE_FIELDS = 7

# MOS histogram: bin i holds [1 + i/10, 1 + (i+1)/10); 4.5 goes to the last bin.
MOS_MIN = 1.0
MOS_MAX = 4.5
MOS_BINS_PER_UNIT = 10.0
MOS_BINS = 35
MOS_BIN_LIMIT = 65535  # uint16 counts saturate here (documented in docs/scoring.md)

# A slice is good when good / runs >= slice objective, with this tolerance for objectives that
# are not exact binary fractions (0.95 of 20 runs is 19 good runs).
SLICE_TOLERANCE = 1e-9

STAT_ACCEPTED = 0
STAT_LATE = 1
STAT_FUTURE = 2
STAT_INVALID = 3
STAT_SIZE = 4

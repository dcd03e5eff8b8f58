"""A uint64 → int32 hash table over NumPy arrays, and the 64-bit signatures it is keyed by.

The extractor maps each resource (by the signature of its attribute values) to its series,
and each (series, step, phase) to its baseline component, for every span of every batch.
Python dictionaries cost about 100 ns a lookup plus the loop around them; this table is
looked up for a whole batch in one compiled call, and only the keys it has never seen go
back to Python. Keys are signatures (never 0, which marks an empty slot); slots are found
by linear probing from the key's low bits, the signatures being well mixed already.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from cxj_processors.kernels import inlined, kernel

EMPTY = np.uint64(0)
MISSING = -1
_MAX_LOAD = 0.5


@inlined
def mix64(value: np.uint64) -> np.uint64:
    """A 64-bit finaliser: every input bit affects every output bit (bijective)."""
    value = (value ^ (value >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    value = (value ^ (value >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return value ^ (value >> np.uint64(31))


@inlined
def _nonzero(value: np.uint64) -> np.uint64:
    return np.uint64(1) if value == EMPTY else value


@kernel
def row_signatures(
    hashes: npt.NDArray[np.uint64], number_bits: npt.NDArray[np.uint64]
) -> npt.NDArray[np.uint64]:
    """One signature per row of two equally shaped 2-D columns (string hashes, number bits)."""
    rows, columns = hashes.shape
    out = np.empty(rows, dtype=np.uint64)
    for row in range(rows):
        value = np.uint64(0x9E3779B97F4A7C15)
        for column in range(columns):
            value = mix64(value ^ hashes[row, column])
            value = mix64(value ^ number_bits[row, column])
        out[row] = _nonzero(value)
    return out


@inlined
def triple_signature(first: int, second: np.uint64, third: np.uint64) -> np.uint64:
    """The signature of (first, second, third), never 0."""
    value = mix64(np.uint64(first) + np.uint64(0x9E3779B97F4A7C15))
    value = mix64(value ^ second)
    return _nonzero(mix64(value ^ third))


@kernel
def table_find(
    slots: npt.NDArray[np.uint64], values: npt.NDArray[np.int32], keys: npt.NDArray[np.uint64]
) -> tuple[npt.NDArray[np.int32], int]:
    """Each key's value (MISSING when absent) and how many keys were missing."""
    mask = np.uint64(slots.shape[0] - 1)
    out = np.empty(keys.shape[0], dtype=np.int32)
    missing = 0
    for i in range(keys.shape[0]):
        key = keys[i]
        slot = key & mask
        found = np.int32(MISSING)  # int32 throughout, as values (and the compiled module) are
        while slots[slot] != EMPTY:
            if slots[slot] == key:
                found = values[slot]
                break
            slot = (slot + np.uint64(1)) & mask
        out[i] = found
        missing += found == MISSING
    return out, missing


@kernel
def table_put(
    slots: npt.NDArray[np.uint64],
    values: npt.NDArray[np.int32],
    keys: npt.NDArray[np.uint64],
    new_values: npt.NDArray[np.int32],
) -> int:
    """Sets key → value for each pair (the table has room); returns how many keys were new."""
    mask = np.uint64(slots.shape[0] - 1)
    added = 0
    for i in range(keys.shape[0]):
        key = keys[i]
        slot = key & mask
        while slots[slot] != EMPTY and slots[slot] != key:
            slot = (slot + np.uint64(1)) & mask
        added += slots[slot] == EMPTY
        slots[slot] = key
        values[slot] = new_values[i]
    return added


class KeyTable:
    """uint64 signature → int32 value other than -1; grows to stay at most half full."""

    def __init__(self, capacity: int = 1024) -> None:
        size = 1 << max(4, (capacity - 1).bit_length())
        self._slots = np.zeros(size, dtype=np.uint64)
        self._values = np.full(size, MISSING, dtype=np.int32)
        self._count = 0

    def __len__(self) -> int:
        """How many keys the table holds."""
        return self._count

    def find(self, keys: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.int32], int]:
        """Each key's value (-1 when absent), and how many were absent."""
        values, missing = table_find(self._slots, self._values, keys)
        return values, int(missing)

    def put(self, keys: npt.NDArray[np.uint64], values: npt.NDArray[np.int32]) -> None:
        """Sets each key's value (keys are never 0; -1 cannot be stored, it means missing)."""
        keys = np.ascontiguousarray(keys, dtype=np.uint64)
        values = np.ascontiguousarray(values, dtype=np.int32)
        if keys.shape[0] and not keys.all():
            raise ValueError("keys: 0 marks an empty slot and cannot be stored")
        if (values == MISSING).any():
            raise ValueError(f"values: {MISSING} reads as missing and cannot be stored")
        if (self._count + keys.shape[0]) > _MAX_LOAD * self._slots.shape[0]:
            self._grow(self._count + keys.shape[0])
        self._count += int(table_put(self._slots, self._values, keys, values))

    def clear(self) -> None:
        """Forgets every key, keeping the capacity."""
        self._slots[:] = EMPTY
        self._values[:] = MISSING
        self._count = 0

    def nbytes(self) -> int:
        """Bytes held by the table's arrays."""
        return int(self._slots.nbytes + self._values.nbytes)

    def _grow(self, needed: int) -> None:
        used = self._slots != EMPTY
        keys, values = self._slots[used], self._values[used]
        size = self._slots.shape[0]
        while needed > _MAX_LOAD * size:
            size *= 2
        self._slots = np.zeros(size, dtype=np.uint64)
        self._values = np.full(size, MISSING, dtype=np.int32)
        self._count = int(table_put(self._slots, self._values, keys, values))

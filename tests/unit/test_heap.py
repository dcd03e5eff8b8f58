"""Returning freed heap memory to the system after an evaluation."""

from __future__ import annotations

import platform

import numpy as np
import psutil

from cxj_processors.heap import release_free_memory


def test_freed_heap_is_returned_to_the_system_on_glibc() -> None:
    process = psutil.Process()
    # Many mid-sized blocks (below the mmap threshold) freed at once leave the heap's free
    # space inside the process until it is trimmed.
    blocks = [np.ones(16_000, dtype=np.uint8) for _ in range(8_000)]
    del blocks[:-1]
    before = process.memory_info().rss
    assert release_free_memory() is (platform.libc_ver()[0] == "glibc")
    after = process.memory_info().rss
    assert before - after > 32 * 2**20

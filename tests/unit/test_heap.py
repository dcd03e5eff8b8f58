"""Returning freed heap memory to the system after an evaluation."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from tests.harness.python import run_python

from cxj_processors.heap import (
    MMAP_THRESHOLD_BYTES,
    configure_allocator,
    release_free_memory,
    without_huge_pages,
)


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


_FREE_A_LARGE_ARRAY = """
import json, os, sys
import numpy as np
import psutil
from tests.harness.python import run_python
from cxj_processors.heap import configure_allocator

chosen = configure_allocator() if sys.argv[1] == "configured" else {}
process = psutil.Process()
np.ones(30 * 2**20, dtype=np.uint8)  # freed at once; by default, raises the mmap threshold to 30 MB
array = np.ones(20 * 2**20, dtype=np.uint8)
keep = np.ones(64, dtype=np.uint8)  # something allocated after it
before = process.memory_info().rss
del array
print(json.dumps({"chosen": chosen, "returned": before - process.memory_info().rss}))
"""


def _free_a_large_array(mode: str) -> dict[str, Any]:
    stdout = run_python(_FREE_A_LARGE_ARRAY, mode, env={"MALLOC_MMAP_THRESHOLD_": None})
    result: dict[str, Any] = json.loads(stdout)
    return result


def test_a_freed_store_array_goes_back_to_the_system_at_once_with_the_fixed_threshold() -> None:
    configured = _free_a_large_array("configured")
    default = _free_a_large_array("default")
    assert configured["chosen"] == {"mmap_threshold_bytes": MMAP_THRESHOLD_BYTES}
    assert configured["returned"] > 16 * 2**20
    assert default["returned"] < 4 * 2**20  # the heap kept it: what the setting avoids


def test_the_users_allocator_variable_wins() -> None:
    assert configure_allocator({"MALLOC_MMAP_THRESHOLD_": "1"}) == {}


_WRITE_EVERY_16_KB = """
import json, sys
import numpy as np, psutil
from cxj_processors.heap import without_huge_pages
process = psutil.Process()
before = process.memory_info().rss
if sys.argv[1] == "ordinary":
    with without_huge_pages():
        array = np.zeros(64 * 2**20, dtype=np.uint8)
else:
    array = np.zeros(64 * 2**20, dtype=np.uint8)
array[:: 16 * 1024] = 1
print(json.dumps(process.memory_info().rss - before))
"""


def test_an_array_written_in_places_takes_only_the_pages_written_without_huge_pages() -> None:
    grown = {
        pages: json.loads(run_python(_WRITE_EVERY_16_KB, pages)) for pages in ("ordinary", "huge")
    }
    modes = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text().strip()
    assert grown["ordinary"] < 24 * 2**20  # a 4 KB page per 16 KB written: 16 MB
    assert grown["huge"] > 48 * 2**20, f"every 2 MB stretch resident with huge pages ({modes})"


def test_the_huge_page_setting_comes_back_after_the_block() -> None:
    from numpy._core import multiarray

    switch = multiarray._set_madvise_hugepage
    before = switch(True)
    try:
        with without_huge_pages():
            inside = switch(False)
        after = switch(True)
    finally:
        switch(before)
    assert inside is False
    assert after is True

"""Small statistics for noisy machines: percentiles of samples, and the median and
spread of a measure over repeats.

.. code:: python

    percentile([1.0, 2.0, 3.0, 4.0], 50)   # 2.5
    spread([10.0, 12.0, 11.0])             # {"median": 11.0, "min": 10.0, "max": 12.0, "n": 3}
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolated between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no samples")
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max of one measure over repeats: the median is the result, min..max its noise."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}

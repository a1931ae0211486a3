"""Streaming-ish statistics over plain lists of numbers."""


def median(xs):
    if not xs:
        raise ValueError("median of empty sequence")
    s = sorted(xs)
    m = len(s) // 2
    if len(s) % 2:
        return s[m]
    return (s[m - 1] + s[m]) / 2


def moving_median(xs, w):
    """Median of every window of `w` consecutive values (len(xs) - w + 1 results)."""
    if w < 1:
        raise ValueError("window must be positive")
    out = []
    for i in range(len(xs) - w + 1):
        window = sorted(xs[i:i + w])
        if w % 2:
            out.append(window[w // 2])
        else:
            out.append((window[w // 2 - 1] + window[w // 2]) / 2)
    return out


def histogram(xs, bins, lo=None, hi=None):
    """Counts of `xs` in `bins` equal-width bins over [lo, hi] (the top edge is inclusive)."""
    if bins < 1:
        raise ValueError("bins must be positive")
    if lo is None:
        lo = min(xs)
    if hi is None:
        hi = max(xs)
    counts = [0] * bins
    width = (hi - lo) / bins if hi > lo else 1.0
    for x in xs:
        if x < lo or x > hi:
            continue
        k = int((x - lo) / width)
        if k >= bins:
            k = bins - 1
        counts[k] += 1
    return counts

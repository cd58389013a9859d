"""Benchmarks with recorded results (issue 4): what the proxy costs a request and a
stream, what a deploy and a drift check cost, and how that grows with the number
of Macs.

    sudo make bench                 # full run (minutes): bench/results/<date>.json, docs/benchmarks.md
    sudo BENCH_QUICK=1 make bench   # smoke run (seconds)
    python -m bench --quick --out /tmp/b --docs /tmp/b/docs

A benchmark reports; it never fails on a missed target.
"""

"""``python -m benchmarks``: run every benchmark, write results/RESULTS.md."""

from benchmarks.run_all import main

main()

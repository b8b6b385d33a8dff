"""The method comparison: the runner over datasets x methods x seeds, its plan and resumable long runs, the
report (RESULTS.md), paper numbers and the authors' code at the full schedule."""

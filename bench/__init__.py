"""`make bench`: the platform's speed and memory, each figure measured beside its baseline in one run."""

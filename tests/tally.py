"""How many examples each property test ran; tests/conftest.py prints it after the run."""

from collections import Counter

EXAMPLES: Counter[str] = Counter()  # property -> examples it ran (its body's calls)

"""Which batches a candidate classifies too: a share of them, spread evenly.

A credit grows by the sample rate with every batch and a batch is taken when it reaches one, so
a rate of 0.25 takes every fourth batch, exactly, with no randomness to make a test or a
comparison wobble. Whole batches are sampled, not messages: a sampled batch costs the candidate
one more tokenisation and forward pass, an unsampled one nothing.
"""

from __future__ import annotations


class BatchSampler:
    """Takes ``rate`` of the batches offered (0 < rate <= 1)."""

    def __init__(self, rate: float) -> None:
        if not 0 < rate <= 1:
            raise ValueError(f"sample_rate must be in (0, 1], got {rate}")
        self.rate = rate
        self._credit = 1.0 - rate  # the first batch offered is taken

    def take(self) -> bool:
        """Whether to sample the next batch."""
        self._credit += self.rate
        if self._credit >= 1.0 - 1e-9:
            self._credit -= 1.0
            return True
        return False

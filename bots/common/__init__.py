"""Pieces every chat adapter shares: splitting long answers, pacing streamed edits."""

"""Pieces every chat adapter shares: splitting long answers into parts, pacing previews, and
streaming one answer into a platform's messages (``parts``, ``answer``)."""

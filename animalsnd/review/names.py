"""The file names of a review folder: the manifest and the page."""

from __future__ import annotations

__all__ = ["MANIFEST", "PAGE"]

#: the cards and their clips, read back by ``review --import``
MANIFEST = "review.json"
#: the self-contained page
PAGE = "index.html"

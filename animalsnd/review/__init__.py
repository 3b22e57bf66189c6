"""Review detections in an offline page, and turn the decisions into training clips.

* :mod:`~animalsnd.review.plan` reads a predictions file (``predict``'s CSV
  or JSON), finds its recordings and samples the cards to review.
* :mod:`~animalsnd.review.clips` cuts each card's clip (with context) once
  and draws its spectrogram with the detection marked.
* :mod:`~animalsnd.review.page` writes the self-contained ``index.html``.
* :mod:`~animalsnd.review.importer` reads the decisions the page exports and
  writes a folder-per-class training set and a precision estimate.

:func:`build_review` runs the first three.
"""

from __future__ import annotations

from pathlib import Path

from animalsnd.review.names import MANIFEST, PAGE


def build_review(predictions, out_dir, *, audio=None, top: int = 10, random: int = 10, seed: int = 0,
                 every: bool = False, classes=(), context_s: float = 1.0, clip_format: str = "flac",
                 fmax: float | None = None, jobs: int = -1, progress=None):
    """Plan, cut and write a review folder; returns :class:`~animalsnd.review.page.ReviewFolder`."""
    from animalsnd.review.clips import ClipOptions, cut_clips
    from animalsnd.review.page import check_review_folder, write_page
    from animalsnd.review.plan import plan_review

    out_dir = Path(out_dir)
    opts = ClipOptions(context_s=context_s, fmt=clip_format, fmax=fmax)
    args = dict(audio=audio, top=top, random=random, seed=seed, every=every, classes=classes)
    plan = plan_review(predictions, **args)
    previous = check_review_folder(out_dir, plan.run_id)
    if previous and {c["id"] for c in previous["cards"]} - {c.id for c in plan.cards}:
        # another sampling of the same predictions: the earlier cards (and their decisions) stay
        plan = plan_review(predictions, keep={c["id"]: c["sample"] for c in previous["cards"]}, **args)
    clips = cut_clips(plan.cards, out_dir, options=opts, previous=previous, jobs=jobs,
                      progress=progress)
    return write_page(out_dir, plan, clips, options=opts)


__all__ = ["MANIFEST", "PAGE", "build_review"]

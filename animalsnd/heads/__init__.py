"""Classifier heads on frozen pretrained embeddings.

* :mod:`animalsnd.heads.birdnet_head` -- a small dense head on pooled BirdNET
  V2.4 embeddings (``--model birdnet-head``): training and evaluation data.
* :mod:`animalsnd.heads.birdnet_predict` -- the same embeddings over windows of
  long recordings (``animalsnd predict``).

Importing this package imports neither TensorFlow nor the backbone runtime.
"""

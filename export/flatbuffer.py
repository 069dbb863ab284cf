"""Reading and mending `.tflite` files at the flatbuffer level: what LiteRT Quantizer needs to know before it runs
(the tensors inside loops, the concatenations of constants, every op's tensors) and the repairs its files need after
(signature outputs, weights written once per graph, a tied embedding kept in float32 beside its int8 copy)."""

from __future__ import annotations

import numpy as np


def _model(content: bytes):
    """The file as flatbuffer objects, every weight inside the flatbuffer (LiteRT Quantizer stores them after it)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    for buffer in model.buffers:
        if getattr(buffer, "offset", 0) > 1:
            buffer.data = np.frombuffer(content, np.uint8, buffer.size, buffer.offset).copy()
            buffer.offset, buffer.size = 0, 0
    return model


def mend_signature_outputs(content: bytes) -> bytes:
    """Make each signature's output tensors its graph's outputs again. LiteRT Quantizer (0.11), given float32
    outputs, re-points a graph output that other ops also read (seq2seq's padding mask) at a new int8 QUANTIZE of
    it and leaves the signature on the float tensor, which the runtime then no longer keeps: the app read
    garbage. The QUANTIZE is left, unread."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = _model(content)
    changed = False
    for signature in model.signatureDefs or []:
        graph = model.subgraphs[signature.subgraphIndex]
        wanted = {o.tensorIndex for o in signature.outputs}
        outputs = [int(t) for t in graph.outputs]
        missing = [t for t in wanted if t not in outputs]
        for j, t in enumerate(outputs):
            if t in wanted:
                continue
            name = graph.tensors[t].name.decode()
            pick = [m for m in missing if name == graph.tensors[m].name.decode() + "_quantized"]
            if len(pick) != 1:
                raise ValueError(f"signature {signature.signatureKey.decode()}: graph output {name} is none of "
                                 "its outputs, and which one it replaced is unclear")
            outputs[j] = pick[0]
            missing.remove(pick[0])
            changed = True
        graph.outputs = np.array(outputs, np.int32)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)) if changed else content


def share_identical_buffers(content: bytes) -> bytes:
    """Point every constant tensor at the first buffer with the same bytes and drop the copies. LiteRT Quantizer
    writes a quantized weight once per graph that reads it: a decoder's prefill and step (which the converter's
    float32 file shares) each got their own copy of the 10,000-word embedding, and the file doubled. Each tensor
    keeps its own type and scale; only the bytes are shared, as the converter itself shares them."""
    import hashlib

    from tensorflow.lite.tools import flatbuffer_utils

    model = _model(content)
    first, same = {}, {}
    for i, buffer in enumerate(model.buffers):
        if buffer.data is None or len(buffer.data) == 0:
            continue
        key = hashlib.sha256(np.asarray(buffer.data, np.uint8).tobytes()).digest()
        same[i] = first.setdefault(key, i)
    copies = {i: j for i, j in same.items() if i != j}
    if not copies:
        return content
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            tensor.buffer = copies.get(tensor.buffer, tensor.buffer)
    for i in copies:
        model.buffers[i].data = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def dequantized_lookups(content: bytes) -> bytes:
    """A GATHER that reads a float32 table of which the file also holds an int8 copy (a language model's tied
    embedding: the output layer's quantized weights) reads a DEQUANTIZE of that copy instead, and the float32 table
    leaves the file. LiteRT Quantizer's dynamic and weight-only recipes do not quantize GATHER: gpt_imdb's dynamic
    file kept both, 7.1 MB against 6.3 MB in float32. The runtime dequantizes a constant once, when it loads."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = _model(content)
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    gather, dequantize, float32, int8 = (schema.BuiltinOperator.GATHER, schema.BuiltinOperator.DEQUANTIZE,
                                         schema.TensorType.FLOAT32, schema.TensorType.INT8)
    if dequantize not in codes:
        model.operatorCodes.append(schema.OperatorCodeT())
        model.operatorCodes[-1].builtinCode = model.operatorCodes[-1].deprecatedBuiltinCode = dequantize
        model.operatorCodes[-1].version = 4  # per-channel int8
        codes.append(dequantize)

    def values(t):
        data = model.buffers[t.buffer].data
        return None if data is None or not len(data) else np.frombuffer(bytes(data), np.float32 if t.type == float32
                                                                          else np.int8).reshape(t.shape)

    def twin(graph, table):  # an int8 constant whose per-row dequantized values are the table's
        for i, t in enumerate(graph.tensors):
            q, x = t.quantization, values(t) if t.type == int8 and list(t.shape) == list(table.shape) else None
            if x is None or q is None or q.scale is None or (len(q.scale) > 1 and q.quantizedDimension != 0):
                continue
            scale = np.asarray(q.scale, np.float32).reshape(-1, 1)
            if np.max(np.abs((x - np.asarray(q.zeroPoint).reshape(-1, 1)) * scale - values(table))) <= scale.max():
                return i
        return None

    changed = False
    for graph in model.subgraphs:
        for op in list(graph.operators):
            table = graph.tensors[op.inputs[0]]
            if codes[op.opcodeIndex] != gather or table.type != float32 or values(table) is None:
                continue
            found = twin(graph, table)
            if found is None:
                continue
            graph.tensors.append(schema.TensorT())
            graph.tensors[-1].shape, graph.tensors[-1].type, graph.tensors[-1].buffer = table.shape, float32, 0
            graph.tensors[-1].name = graph.tensors[found].name + b"_dequantized"
            step = schema.OperatorT()
            step.opcodeIndex, step.inputs, step.outputs = codes.index(dequantize), [found], [len(graph.tensors) - 1]
            graph.operators.insert(0, step)
            op.inputs[0] = len(graph.tensors) - 1
            changed = True
    if not changed:
        return content
    read = {(g_i, i) for g_i, g in enumerate(model.subgraphs)
            for i in [*(i for op in g.operators for i in op.inputs), *g.inputs, *g.outputs]}
    used = {t.buffer for g_i, g in enumerate(model.subgraphs) for i, t in enumerate(g.tensors) if (g_i, i) in read}
    for buffer in (b for i, b in enumerate(model.buffers) if i not in used):
        buffer.data = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def loop_tensors(content: bytes) -> list[str]:
    """The names of the tensors inside the file's control-flow bodies: every subgraph that no signature runs (a
    decoder's second signature, step, is a graph of its own, not a loop body)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    entries = {s.subgraphIndex for s in model.signatureDefs or []} or {0}
    return sorted({t.name.decode() for i, g in enumerate(model.subgraphs) if i not in entries for t in g.tensors
                   if t.name})


def operators(content: bytes) -> list[dict]:
    """Every op of every subgraph, in graph order: `graph` (its subgraph's index), `op` (its name), `tensor` (its
    first output's name), `outputs` (how many), `reads` (the names of the non-constant tensors it reads) and
    `reads_constant`."""
    from tensorflow.lite.tools import flatbuffer_utils
    from tensorflow.lite.tools.visualize import BuiltinCodeToName

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    codes = [BuiltinCodeToName(max(c.builtinCode, c.deprecatedBuiltinCode)) for c in model.operatorCodes]

    def constant(t):
        return t.buffer > 0 and model.buffers[t.buffer].data is not None

    found = []
    for g_i, graph in enumerate(model.subgraphs):
        names = [t.name.decode() if t.name else "" for t in graph.tensors]
        for op in graph.operators or []:
            if not len(op.outputs):
                continue
            inputs = [i for i in op.inputs if i >= 0]
            found.append({"graph": g_i, "op": codes[op.opcodeIndex], "tensor": names[op.outputs[0]],
                          "outputs": len(op.outputs),
                          "reads": [names[i] for i in inputs if not constant(graph.tensors[i])],
                          "reads_constant": any(constant(graph.tensors[i]) for i in inputs)})
    return found


def constant_concatenations(ops: list[dict]) -> list[str]:
    """The output names of the CONCATENATIONs among `operators(...)` that read a constant (seq2seq's start
    character, its embedding folded into the graph). LiteRT Quantizer (0.11) gives that constant its output's scale
    with another tensor's rank and fails ('Ranks of scales (3) and zps (3) must be the same as the tensor rank (2)'),
    so they stay float32."""
    return sorted({o["tensor"] for o in ops if o["op"] == "CONCATENATION" and o["reads_constant"]})

"""Describe a TFLite file: inputs and outputs (shape, dtype, quantization), ops, tensors, size.

    python -m export.inspect runs/cnn_mnist/20261122-213000/export/model_int8.tflite
    python -m export.inspect model.tflite --json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from zoo.cli import ArgumentParser
from zoo.errors import first_line


def inspect_file(path) -> dict:
    from export import verify
    from zoo.errors import UsageError

    path = Path(path)
    try:
        content = path.read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None
    # A TFLite flatbuffer carries the identifier "TFL3" at byte 4.
    if len(content) < 8 or content[4:8] != b"TFL3":
        raise UsageError(f"{path} is not a TFLite flatbuffer (no TFL3 identifier); give a .tflite file")
    try:
        interp = verify.interpreter(content, delegates=False)
        details = verify.io_details(content)
    except Exception as e:  # noqa: BLE001 - the runtime rejects damaged files with RuntimeError/ValueError
        raise UsageError(f"{path} is damaged or unsupported: {first_line(e, 200)}") from None
    ops = Counter(d["op_name"] for d in interp._get_ops_details())
    tensors = interp.get_tensor_details()
    return {
        "file": str(path),
        "bytes": len(content),
        **details,
        "ops": dict(sorted(ops.items())),
        "tensor_bytes": int(sum(int(t["shape"].prod() if len(t["shape"]) else 1) * t["dtype"](0).itemsize
                                for t in tensors)),
    }


def format_info(info: dict) -> str:
    lines = [f"{info['file']}: {info['bytes']:,} bytes"]
    for signature, io in info.get("signatures", {"": info}).items():  # a decoder: prefill's, then step's
        if signature:
            lines.append(f"  signature {signature}:")
        for kind in ("inputs", "outputs"):
            for d in io[kind]:
                q = d["quantization"]
                qt = f", scale {q['scale']:.6g}, zero point {q['zero_point']}" if q else ""
                indent = "    " if signature else "  "
                lines.append(f"{indent}{kind[:-1]:<6} {d['name']}: {d['shape']} {d['dtype']}{qt}")
    lines.append(f"  ops ({sum(info['ops'].values())}): " + ", ".join(f"{k} x{v}" for k, v in info["ops"].items()))
    lines.append(f"  tensors: {info['tensors']}, {info['tensor_bytes']:,} bytes")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = ArgumentParser(prog="python -m export.inspect", description=__doc__.split("\n\n")[0],
                       epilog=__doc__.split("\n\n", 1)[1],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="a .tflite file")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--debug", action="store_true", help="show full tracebacks for errors")
    args = p.parse_args(argv)
    from zoo.cli import run_cli

    def body():
        info = inspect_file(args.file)
        print(json.dumps(info, indent=2) if args.json else format_info(info))

    return run_cli(body, args.debug)


if __name__ == "__main__":
    sys.exit(main())

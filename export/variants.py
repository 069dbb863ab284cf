"""The export variants: one row each. Every list of variants in `export/` derives from this table.

    python -m export RUN_DIR --quantize float32,int8,weights_int4

A variant's file is made from the float32 file that already passed its checks, by
LiteRT Quantizer's recipe (or by the TFLite converter's legacy post-training
quantization where `converter` is true and `--quantizer converter` asks for it), so a
variant differs from float32 only by what its recipe changes. To add a variant, add a
row; if none of the makers in `export/make.py` (`MAKERS`) fits, add one there.
"""

from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    what: str  # one line for --help and the docs
    maker: str  # export.make.MAKERS key: "float32" (the converter's float file), "litert" (a recipe), "auto"
    recipe: Optional[str] = None  # litert_quantizer.recipe function (None for float32 and float16's casting)
    quantizes_activations: bool = False  # calibrated on training inputs; WHILE loops stay float32
    integer: bool = True  # judged by the graph's int8 agreement limit unless it has its own
    uint8_io: bool = False  # --int8-io uint8 makes it with the converter (LiteRT Quantizer writes no uint8 I/O)
    converter: bool = False  # --quantizer converter can make it
    default: bool = False  # in --quantize's default list
    in_all: bool = True  # in --quantize all
    page_order: int = 99  # the web page opens the lowest


VARIANTS = (
    Variant("float32", "float32 weights and compute", "float32", integer=False, converter=True, default=True,
            page_order=0),
    Variant("float16", "float16 weights, float32 compute", "litert", integer=False, converter=True, default=True,
            page_order=3),
    Variant("dynamic", "int8 weights, activations quantized at run time (dynamic range)", "litert",
            recipe="dynamic_wi8_afp32", converter=True, default=True, page_order=2),
    Variant("int8", "int8 weights and activations, calibrated on training inputs", "litert",
            recipe="static_wi8_ai8", quantizes_activations=True, uint8_io=True, converter=True, default=True,
            page_order=1),
    Variant("int16x8", "int16 activations, int8 weights (more accurate, slower kernels)", "litert",
            recipe="static_wi8_ai16", quantizes_activations=True),
    Variant("weights_int8", "int8 weights dequantized to float32 at load; float32 compute", "litert",
            recipe="weight_only_wi8_afp32", page_order=4),
    Variant("weights_int4", "the same with int4 weights (channelwise): the smallest file", "litert",
            recipe="weight_only_wi4_afp32", page_order=5),
    Variant("auto", "int8, with the layers that lose most kept in float32 until the quality loss is under "
            "--max-loss", "auto", recipe="static_wi8_ai8", quantizes_activations=True, in_all=False,
            page_order=6),
)
BY_NAME = {v.name: v for v in VARIANTS}
NAMES = tuple(BY_NAME)
DEFAULT = ",".join(v.name for v in VARIANTS if v.default)
CONVERTER = tuple(v.name for v in VARIANTS if v.converter)  # what --quantizer converter can make
FLOAT16_RECIPE = "float_casting (float16 weights)"


def get(name: str) -> Variant:
    if name not in BY_NAME:
        raise ValueError(f"unknown variant {name!r}; choose from {', '.join(NAMES)}")
    return BY_NAME[name]


def recipe_name(name: str) -> str:
    """The LiteRT Quantizer recipe a variant's file is made with, as the report names it."""
    return get(name).recipe or FLOAT16_RECIPE


def page_rank(name: str) -> int:
    return BY_NAME[name].page_order if name in BY_NAME else len(VARIANTS) + 99


def help_table() -> str:
    return "\n".join(f"  {v.name:<13} {v.what}" for v in VARIANTS)


def parse(text: str) -> list[str]:
    """`--quantize`'s comma-separated list ('all': every variant with in_all), checked against the table."""
    from zoo.errors import UsageError

    names = []
    for v in (v.strip() for v in text.split(",")):
        names += [c.name for c in VARIANTS if c.in_all] if v == "all" else [v] if v else []
    bad = [v for v in names if v not in BY_NAME]
    if bad or not names:
        all_of = ", ".join(v.name for v in VARIANTS if not v.in_all)
        raise UsageError(f"--quantize takes a comma-separated list of {', '.join(NAMES)}, or 'all' "
                         f"(every one but {all_of}), got {text!r}")
    return list(dict.fromkeys(names))

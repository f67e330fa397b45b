"""int8 weights for sampling on a CPU: a prior's linear layers with per-channel int8 weights.

Sampling one code reads every weight of the prior once, so on a CPU it is bound by memory
bandwidth: the 1b_lyrics top prior reads 3.8 GB of fp32 weights per code. ``quantize_int8``
replaces each ``nn.Linear`` with torch's dynamically quantized linear layer (weights int8 with one
scale per output channel, activations quantized per call, fbgemm kernels): a quarter of the bytes
and 1.8x faster per code at batch 1, 4.9x at batch 3 for the 1b_lyrics top prior (docs/BENCHMARKS.md).
Embeddings, norms,
convolutions and the tied output head stay fp32. CPU only; sampling, not training.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from muse.core.errors import UserError


def quantize_int8(model: nn.Module) -> nn.Module:
    """``model`` (fp32, on the CPU, eval mode) with its ``nn.Linear`` layers quantized to int8, in place."""
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise UserError("int8 weights are for CPU sampling; on a GPU use bf16 or fp16")
    if any(p.dtype != torch.float32 for p in model.parameters()):
        raise UserError("int8 quantization starts from fp32 weights")
    if "fbgemm" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "fbgemm"
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao, still shipped
        warnings.simplefilter("ignore")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        return quantize_dynamic(model.eval(), {nn.Linear: per_channel_dynamic_qconfig}, inplace=True)

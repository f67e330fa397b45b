"""Official Jukebox prior checkpoints (``prior_level_*.pth.tar``) -> our ``JukeboxPrior``.

Our own priors are saved as ``<name>.safetensors`` with ``<name>.json`` (header + ``PriorConfig``)
beside it, the model-folder format of ``muse.core.model_folder`` (kind ``prior``; an old plain
``PriorConfig`` JSON still loads) (``save_prior`` / ``load_prior``); ``load_prior`` also reads
official files.

Two explicit translations:
- ``config_from_official(hps, shapes)``: the released hyper-parameters (+ the state dict's shapes,
  which carry what ``hps`` does not: code vocabulary, up-sampling stages) -> ``PriorConfig``.
- ``rename_official_key`` / ``convert_official_state``: official keys -> ours. Projections stored
  as ``w`` shaped (in, out) become ``nn.Linear`` weights (transposed); ``c_attn`` packs q, k, v
  (consecutive thirds, as our ``qkv``); cross layers keep the query in ``c_attn`` and keys/values
  in ``c_enc_kv``; fp16 weights are cast to fp32; tied ``x_emb``/``x_out`` both appear.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from jukebox.official import ATTN_TYPES, apply_key_map, load_official
from jukebox.prior.conditioning import LabelConfig, UpsamplerConfig
from jukebox.prior.config import LyricEncoderConfig, LyricsConfig, PriorConfig
from muse.core.attention import Pattern
from muse.core.config import from_dict
from muse.core.errors import CheckpointError
from muse.core.model_folder import Extra, read_header, read_model_files, save_model_files

KIND = "prior"

OFFICIAL_HOP_LENGTHS = (8, 32, 128)
"""Audio samples per code at levels 0, 1, 2 of the released VQ-VAE (prior hps do not say)."""



def attn_order_from_official(order: int) -> tuple[Pattern, ...]:
    """One period of the layer patterns of Jukebox's integer ``attn_order`` (cycled over layers)."""
    rcp = (1, 2, 3)
    kinds: tuple[int, ...]
    if order == 0:
        kinds = (0,)
    elif order == 1:
        kinds = (1, 2)
    elif order == 2:
        kinds = rcp
    elif order == 6:
        kinds = (*rcp, 6)
    elif order == 7:
        kinds = (*rcp * 5, 6)
    elif order == 8:
        kinds = (*rcp * 3, 6)
    elif order == 9:
        kinds = (*rcp, 0)
    elif order == 10:  # 5b_lyrics: 9 layers, then 7 x (9 layers + cross attention)
        kinds = (*rcp * 3, *(*rcp * 3, 6) * 7)
    elif order in (11, 12):  # 11: cross, 12: prime (1b_lyrics) at every 16th layer, a dense one at every third such
        special = 6 if order == 11 else 7
        kinds = tuple((special, special, 0)[d % 3] if d % 16 == 15 else rcp[d % 3] for d in range(48))
    else:
        raise CheckpointError(f"attn_order {order} is not supported (summary patterns 3-5 have no official model)")
    return tuple(ATTN_TYPES[k] for k in kinds)


def config_from_official(
    hps: Mapping[str, Any], shapes: Mapping[str, Sequence[int]], hop_length: int | None = None
) -> PriorConfig:
    """Build our config from an official prior's ``hps`` and its state dict's key -> shape.

    The VQ-VAE fields in a prior's hps (``l_bins``, ``downs_t``...) are defaults, so the code
    vocabulary comes from ``prior.x_emb`` and the up-sampling from the conditioner's stages.
    ``hop_length`` defaults to the released VQ-VAE's hop at ``hps['level']``.
    """
    try:
        level = int(hps["level"])
        prefix = bool(hps.get("single_enc_dec", False))
        n_tokens = int(hps.get("n_tokens", 0)) if hps.get("use_tokens", False) else 0
        n_vocab = int(hps["n_vocab"])
        vocab = int(shapes["prior.x_emb.weight"][0])
        upsampler = _upsampler_from_official(hps, shapes)
        labels = None
        if hps.get("labels", False):
            n_genres, n_artists = (int(v) for v in hps["y_bins"])
            timing_fields = {}
            if upsampler is None:  # only the top level has the timing signal; else the defaults stand
                timing_fields = dict(
                    t_bins=int(hps["t_bins"]),
                    sample_rate=int(hps["sr"]),
                    min_duration=float(hps["min_duration"]),
                    max_duration=float(hps["max_duration"]),
                )
            labels = LabelConfig(
                version="v3" if hps.get("labels_v3", False) else "v2",
                n_artists=n_artists,
                n_genres=n_genres,
                max_bow_genre_size=int(hps["max_bow_genre_size"]),
                timing=upsampler is None,
                **timing_fields,
            )
        lyrics = None
        if n_tokens:
            encoder = None
            if not prefix:
                encoder = LyricEncoderConfig(
                    width=int(hps["prime_width"]),
                    depth=int(hps["prime_depth"]),
                    heads=int(hps["prime_heads"]),
                    blocks=int(hps["prime_blocks"]) if hps.get("prime_blocks") is not None else None,
                    attn_order=attn_order_from_official(int(hps["prime_attn_order"])),
                    attn_mult=float(hps["prime_m_attn"]),
                    mlp_mult=float(hps["prime_m_mlp"]),
                    res_scale=bool(hps["prime_res_scale"]),
                )
            lyrics = LyricsConfig(
                design="prefix" if prefix else "encoder",
                n_tokens=n_tokens,
                n_vocab=n_vocab,
                encoder=encoder,
                loss_fraction=float(hps.get("prime_loss_fraction", 0.4)),
                alignment_layer=hps.get("alignment_layer"),
                alignment_head=hps.get("alignment_head"),
            )
        return PriorConfig(
            level=level,
            n_bins=vocab - (n_vocab if prefix and n_tokens else 0),
            n_ctx=int(hps["n_ctx"]),
            hop_length=hop_length if hop_length is not None else OFFICIAL_HOP_LENGTHS[level],
            width=int(hps["prior_width"]),
            depth=int(hps["prior_depth"]),
            heads=int(hps["heads"]),
            blocks=int(hps["blocks"]),
            attn_order=attn_order_from_official(int(hps["attn_order"])),
            attn_mult=float(hps["m_attn"]),
            mlp_mult=float(hps["m_mlp"]),
            res_scale=bool(hps["res_scale"]),
            merged_decoder=bool(hps.get("merged_decoder", False)),
            labels=labels,
            lyrics=lyrics,
            upsampler=upsampler,
        )
    except KeyError as err:
        raise CheckpointError(f"official prior hyper-parameters lack {err}") from None
    except ValueError as err:
        raise CheckpointError(f"official prior hyper-parameters are inconsistent: {err}") from None


def _upsampler_from_official(hps: Mapping[str, Any], shapes: Mapping[str, Sequence[int]]) -> UpsamplerConfig | None:
    emb = shapes.get("conditioner_blocks.0.x_emb.weight")
    if emb is None:
        return None
    strides = []
    stage = 1
    while (key := f"conditioner_blocks.0.cond.model.{stage}.1.weight") in shapes:
        strides.append(int(shapes[key][2]) // 2)  # ConvTranspose1d kernel = 2 * stride
        stage += 1
    cycle = hps.get("cond_dilation_cycle")
    return UpsamplerConfig(
        upper_bins=int(emb[0]),
        width=int(hps["cond_width"]),
        depth=int(hps["cond_depth"]),
        strides=tuple(strides),
        m_conv=float(hps["cond_m_conv"]),
        dilation_growth_rate=int(hps["cond_dilation_growth_rate"]),
        dilation_cycle=int(cycle) if cycle is not None else None,
        res_scale=bool(hps["cond_res_scale"]),
    )


_LABELS = {
    "artist_emb.emb": "artist",
    "bow_genre_emb.emb": "genre",
    "total_length_emb.emb": "total_length.emb",
    "absolute_pos_emb.emb": "absolute_position.emb",
    "relative_pos_emb.emb": "relative_position.emb",
}


def _rename_layer(rest: str, cross_layers: set[int]) -> str:
    """``N.attn.c_attn.w`` etc. (inside ``_attn_mods``) -> our ``layers.N....`` (suffix ``w`` kept)."""
    m = re.fullmatch(r"(\d+)\.(.+)", rest)
    if m is None:
        raise KeyError(rest)
    n, tail = int(m.group(1)), m.group(2)
    attn = {"attn.c_attn": "attn.q" if n in cross_layers else "attn.qkv", "attn.c_enc_kv": "attn.kv",
            "attn.c_proj": "attn.proj"}
    for old, new in attn.items():
        if tail.startswith(old + "."):
            tail = new + tail[len(old):]
            break
    return f"layers.{n}.{tail}"


def rename_official_key(key: str, config: PriorConfig) -> str:
    """Official key -> our key, with ``.w`` turned into ``.weight`` (the caller transposes)."""
    cross = {i for i in range(config.depth) if config.pattern(i) == "cross"}
    name = key
    if key.startswith("y_emb."):
        rest = key[len("y_emb."):]
        for old, new in _LABELS.items():
            if rest.startswith(old + "."):
                name = f"labels.{new}{rest[len(old):]}"
                break
        else:
            raise KeyError(key)
    elif key.startswith("conditioner_blocks.0."):
        name = "upsampler." + _rename_conditioner(key[len("conditioner_blocks.0."):])
    elif key.startswith("prior.transformer._attn_mods."):
        name = "transformer." + _rename_layer(key[len("prior.transformer._attn_mods."):], cross)
    elif key.startswith("prime_prior.transformer._attn_mods."):
        name = "lyric_encoder.transformer." + _rename_layer(key[len("prime_prior.transformer._attn_mods."):], set())
    else:
        simple = {
            "prior.x_emb.weight": "embed.weight",
            "prior.x_out.weight": "head.weight",
            "prior.pos_emb.pos_emb": "pos_emb.pos_emb",
            "prime_prior.start_token": "lyric_encoder.start",
            "prime_prior.x_emb.weight": "lyric_encoder.embed.weight",
            "prime_prior.pos_emb.pos_emb": "lyric_encoder.pos_emb.pos_emb",
            "prime_state_proj.w": "lyric_encoder.proj.w",
            "prime_state_proj.b": "lyric_encoder.proj.b",
            "prime_state_ln.weight": "lyric_encoder.ln.weight",
            "prime_state_ln.bias": "lyric_encoder.ln.bias",
            "prime_x_out.weight": "lyric_encoder.head.weight",
        }
        if key not in simple:
            raise KeyError(key)
        name = simple[key]
    if name.endswith(".w"):
        return name[:-2] + ".weight"
    if name.endswith(".b"):
        return name[:-2] + ".bias"
    return name


def _rename_conditioner(rest: str) -> str:
    if rest.startswith("x_emb."):
        return "embed." + rest[len("x_emb."):]
    if rest.startswith("ln."):
        return rest
    m = re.fullmatch(r"cond\.model\.(\d+)\.(.+)", rest)
    if m is None:
        raise KeyError(rest)
    stage, tail = int(m.group(1)), m.group(2)
    if stage == 0:
        return "proj_in." + tail
    up = re.fullmatch(r"1\.(weight|bias)", tail)
    if up:
        return f"stages.{stage - 1}.up.{up.group(1)}"
    # residual block d: stored under .blocks. (cond_c_res) or .model.; convs at .model.1 / .model.3
    res = re.fullmatch(r"0\.(?:blocks|model)\.(\d+)\.model\.([13])\.(weight|bias)", tail)
    if res is None:
        raise KeyError(rest)
    conv = "conv1" if res.group(2) == "1" else "conv2"
    return f"stages.{stage - 1}.blocks.{res.group(1)}.{conv}.{res.group(3)}"


def official_shape(key: str, shape: Sequence[int]) -> tuple[int, ...]:
    """Shape of an official tensor once converted to our layout (``w`` is transposed)."""
    return tuple(reversed(shape)) if key.endswith(".w") else tuple(shape)


def convert_official_state(
    state: Mapping[str, torch.Tensor], config: PriorConfig, expected: Mapping[str, Sequence[int]], source: str,
    dtype: torch.dtype = torch.float32,
) -> dict[str, torch.Tensor]:
    """Rename and convert an official state dict to ours (every tensor cast to ``dtype``, fp32 by
    default), checked against ``expected`` shapes."""
    converted: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        try:
            new = rename_official_key(key, config)
        except KeyError:
            unknown.append(key)
            continue
        value = value.to(dtype)
        converted[new] = value.t().contiguous() if key.endswith(".w") else value
    if unknown:
        raise CheckpointError(f"{source}: unexpected keys {unknown[:20]} ({len(unknown)})")
    return apply_key_map(converted, dict(expected), lambda k: k, source)


def load_official_prior(path: str | Path, hop_length: int | None = None, device: str | torch.device = "cpu",
                        dtype: torch.dtype = torch.float32):
    """Read an official ``prior_level_*.pth.tar`` into a ``JukeboxPrior`` (``dtype``, eval mode).

    The model is built on the ``meta`` device and the converted tensors are assigned to it, so
    no memory is spent on a random initialisation first.
    """
    from jukebox.prior.prior import JukeboxPrior

    checkpoint = load_official(path)
    shapes = {k: tuple(v.shape) for k, v in checkpoint.state_dict.items()}
    config = config_from_official(checkpoint.hps, shapes, hop_length)
    with torch.device("meta"):
        model = JukeboxPrior(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = convert_official_state(checkpoint.state_dict, config, expected, str(path), dtype)
    del checkpoint
    model.load_state_dict(state, strict=True, assign=True)
    model.tie_weights()
    return model.to(device).eval()


def save_prior(model, path: str | Path, state: Mapping[str, torch.Tensor] | None = None,
               ids: str | None = None) -> Path:
    """Write a ``JukeboxPrior`` (or ``state``, a full state dict of it) as ``path`` (.safetensors)
    and its config as JSON beside it; ``ids``: the folder of its artist/genre id files, relative to
    ``path``'s folder, recorded as the extra ``ids``. A tied output projection is stored once."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path}: our prior weights are saved as .safetensors")
    state = model.state_dict() if state is None else state
    tied = not model.config.merged_decoder
    save_model_files(path, path.with_suffix(".json"), KIND, model.config,
                     {k: v for k, v in state.items() if not (tied and k == "head.weight")},
                     extras={"ids": Extra(ids)} if ids is not None else None)
    return path


def prior_ids_dir(path: str | Path) -> Path | None:
    """The folder of the artist/genre id files of the prior saved as ``path``: its ``ids`` extra; for
    a prior saved before the model-folder header (or an official one), an ``ids/`` folder beside it
    when there is one; else None."""
    path = Path(path)
    doc = read_header(path.with_suffix(".json")) if path.suffix == ".safetensors" else None
    if doc is not None:
        ids = (doc.get("extras") or {}).get("ids")
        return path.parent / ids if ids is not None else None
    return path.parent / "ids" if (path.parent / "ids").is_dir() else None


def load_prior(path: str | Path, device: str | torch.device = "cpu", hop_length: int | None = None,
               dtype: torch.dtype = torch.float32):
    """Load a prior: an official ``*.pth.tar`` or our ``*.safetensors`` with its JSON config beside it."""
    from jukebox.prior.prior import JukeboxPrior

    path = Path(path)
    if path.suffix != ".safetensors":
        return load_official_prior(path, hop_length, device, dtype)
    saved = read_model_files(path, path.with_suffix(".json"), KIND, legacy=lambda data: (KIND, data, {}))
    config = from_dict(PriorConfig, saved.config, str(saved.config_file))
    with torch.device("meta"):
        model = JukeboxPrior(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    if not config.merged_decoder:
        expected.pop("head.weight")
    state = apply_key_map(saved.load_weights(), expected, lambda k: k, str(path))
    state = {k: v.to(dtype) for k, v in state.items()}
    model.load_state_dict(state, strict=False, assign=True)
    model.tie_weights()
    return model.to(device).eval()

"""diffusers layout -> the original single-file layouts (LDM/SGM UNet and VAE, OpenCLIP, SAI MMDiT, BFL FLUX).

The "layout" view of ``paramcheck.checkpoint.singlefile`` maps the bundled architecture to the names a release file
uses and compares them with the file's own names (exact even where diffusers' converter guesses, e.g. a dropped
block); ``paramcheck.checkpoint.lora`` resolves original-layout LoRA targets (fused ``qkv``, ``linear1``) through it.

No installed library ships these maps (diffusers keeps them in its repository's ``scripts/``:
``convert_diffusers_to_original_sdxl.py``, ``..._stable_diffusion.py``, both with hard-coded block counts). These are
written from those scripts and the forward converters in ``diffusers/loaders/single_file_utils.py``, generalised over
the config (levels, ``layers_per_block``, attention per level, depth, dual-attention layers, guidance embedder).

Every function maps ``{diffusers name: tensor} -> {original name: tensor}``; tensors may be real or on meta. The
forward converters of diffusers are the referee: ``forward(reverse(sd)) == sd`` (the tests check it, and files made
with these maps load with ``from_single_file`` value-equal to the modules they came from).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

__all__ = [
    "clip_hf_names",
    "flux_to_original",
    "openclip_from_hf",
    "prefixed",
    "sd3_to_original",
    "unet_to_ldm",
    "vae_to_ldm",
]

Tensors = dict[str, torch.Tensor]

RESNET = (
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("time_emb_proj", "emb_layers.1"),
    ("conv_shortcut", "skip_connection"),
)
UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "class_embedding.linear_1": "label_emb.0.0",
    "class_embedding.linear_2": "label_emb.0.2",
}


def _resnet(rest: str) -> str:
    for new, old in RESNET:
        if rest.startswith(new + "."):
            return old + rest[len(new) :]
    return rest


def _unet_prefixes(config: Mapping[str, Any]) -> dict[str, str]:
    """diffusers module prefix -> LDM prefix, for every block of a UNet2DConditionModel config."""
    lpb = int(config["layers_per_block"])
    levels = len(config["block_out_channels"])
    up_types = list(config["up_block_types"])
    out: dict[str, str] = {"mid_block.resnets.0.": "middle_block.0.", "mid_block.attentions.0.": "middle_block.1."}
    out["mid_block.resnets.1."] = "middle_block.2."
    for i in range(levels):
        for j in range(lpb):
            k = 1 + i * (lpb + 1) + j
            out[f"down_blocks.{i}.resnets.{j}."] = f"input_blocks.{k}.0."
            out[f"down_blocks.{i}.attentions.{j}."] = f"input_blocks.{k}.1."
        if i < levels - 1:
            out[f"down_blocks.{i}.downsamplers.0.conv."] = f"input_blocks.{1 + i * (lpb + 1) + lpb}.0.op."
        has_attention = "CrossAttn" in up_types[i]
        for j in range(lpb + 1):
            k = i * (lpb + 1) + j
            out[f"up_blocks.{i}.resnets.{j}."] = f"output_blocks.{k}.0."
            out[f"up_blocks.{i}.attentions.{j}."] = f"output_blocks.{k}.1."
        if i < levels - 1:
            k = i * (lpb + 1) + lpb
            out[f"up_blocks.{i}.upsamplers.0.conv."] = f"output_blocks.{k}.{2 if has_attention else 1}.conv."
    return out


def unet_to_ldm(sd: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> Tensors:
    """UNet2DConditionModel -> ``model.diffusion_model.*`` keys (without that prefix)."""
    prefixes = sorted(_unet_prefixes(config).items(), key=lambda kv: -len(kv[0]))
    out: Tensors = {}
    for name, tensor in sd.items():
        module, _, leaf = name.rpartition(".")
        if module in UNET_TOP:
            out[f"{UNET_TOP[module]}.{leaf}"] = tensor
            continue
        for new, old in prefixes:
            if name.startswith(new):
                rest = name[len(new) :]
                out[old + (_resnet(rest) if ".resnets." in new else rest)] = tensor
                break
        else:
            raise KeyError(f"no LDM name for UNet tensor {name}")
    return out


def vae_to_ldm(sd: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> Tensors:
    """AutoencoderKL -> LDM VAE keys (``encoder.down.{i}.block.{j}``, ``decoder.up.{n-1-i}``, conv attention)."""
    n = len(config["up_block_types"])
    out: Tensors = {}
    attn = {"group_norm.": "norm.", "to_q.": "q.", "to_k.": "k.", "to_v.": "v.", "to_out.0.": "proj_out."}
    for name, tensor in sd.items():
        new = name.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
        for part in ("encoder", "decoder"):
            new = new.replace(f"{part}.mid_block.resnets.0.", f"{part}.mid.block_1.")
            new = new.replace(f"{part}.mid_block.resnets.1.", f"{part}.mid.block_2.")
        if ".mid_block.attentions.0." in new:
            head, _, rest = new.partition(".mid_block.attentions.0.")
            for a, b in attn.items():
                if rest.startswith(a):
                    rest = b + rest[len(a) :]
                    break
            new = f"{head}.mid.attn_1.{rest}"
            if rest.endswith("weight") and tensor.ndim == 2:
                tensor = tensor.reshape(*tensor.shape, 1, 1)  # LDM uses 1x1 convolutions
        parts = new.split(".")
        if parts[0] == "encoder" and parts[1] == "down_blocks":
            i = parts[2]
            if parts[3] == "resnets":
                new = ".".join(["encoder", "down", i, "block", *parts[4:]])
            else:  # downsamplers.0.conv
                new = ".".join(["encoder", "down", i, "downsample", *parts[5:]])
        elif parts[0] == "decoder" and parts[1] == "up_blocks":
            i = str(n - 1 - int(parts[2]))
            if parts[3] == "resnets":
                new = ".".join(["decoder", "up", i, "block", *parts[4:]])
            else:  # upsamplers.0.conv
                new = ".".join(["decoder", "up", i, "upsample", *parts[5:]])
        out[new] = tensor
    return out


OPENCLIP = (
    ("text_model.encoder.layers.", "transformer.resblocks."),
    ("layer_norm1", "ln_1"),
    ("layer_norm2", "ln_2"),
    (".mlp.fc1.", ".mlp.c_fc."),
    (".mlp.fc2.", ".mlp.c_proj."),
    (".self_attn.out_proj.", ".attn.out_proj."),
)


def clip_hf_names(sd: Mapping[str, torch.Tensor]) -> Tensors:
    """transformers 5 flattens CLIPTextModel (no ``text_model.``); single files keep the transformers-4 names."""
    out: Tensors = {}
    for name, tensor in sd.items():
        out[name if name.startswith(("text_model.", "text_projection")) else "text_model." + name] = tensor
    return out


def openclip_from_hf(sd: Mapping[str, torch.Tensor]) -> Tensors:
    """CLIPTextModel(WithProjection) -> OpenCLIP text tower (fused in_proj, transposed text_projection)."""
    sd = clip_hf_names(sd)
    out: Tensors = {}
    qkv: dict[str, dict[str, dict[str, torch.Tensor]]] = {}
    for name, tensor in sd.items():
        if name == "text_model.embeddings.token_embedding.weight":
            out["token_embedding.weight"] = tensor
        elif name == "text_model.embeddings.position_embedding.weight":
            out["positional_embedding"] = tensor
        elif name.startswith("text_model.final_layer_norm."):
            out["ln_final." + name.rsplit(".", 1)[1]] = tensor
        elif name == "text_projection.weight":
            out["text_projection"] = tensor.T.contiguous()
        elif ".self_attn." in name and name.rsplit(".", 2)[1] in {"q_proj", "k_proj", "v_proj"}:
            layer, proj, leaf = name.rsplit(".", 2)
            qkv.setdefault(layer, {}).setdefault(leaf, {})[proj[0]] = tensor
        else:
            new = name
            for a, b in OPENCLIP:
                new = new.replace(a, b)
            out[new] = tensor
    for layer, leaves in qkv.items():
        base = layer.replace("text_model.encoder.layers.", "transformer.resblocks.").replace(".self_attn", ".attn")
        for leaf, parts in leaves.items():
            out[f"{base}.in_proj_{leaf}"] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out


def _swap(t: torch.Tensor) -> torch.Tensor:
    """diffusers' AdaLayerNormContinuous holds (scale, shift); the originals hold (shift, scale). Self-inverse."""
    a, b = t.chunk(2, dim=0)
    return torch.cat([b, a])


def sd3_to_original(sd: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> Tensors:
    """SD3Transformer2DModel -> MMDiT ``joint_blocks`` keys (without ``model.diffusion_model.``)."""
    g = dict(sd)
    out: Tensors = {
        "pos_embed": g.pop("pos_embed.pos_embed"),
        "x_embedder.proj.weight": g.pop("pos_embed.proj.weight"),
        "x_embedder.proj.bias": g.pop("pos_embed.proj.bias"),
        "context_embedder.weight": g.pop("context_embedder.weight"),
        "context_embedder.bias": g.pop("context_embedder.bias"),
        "final_layer.linear.weight": g.pop("proj_out.weight"),
        "final_layer.linear.bias": g.pop("proj_out.bias"),
        "final_layer.adaLN_modulation.1.weight": _swap(g.pop("norm_out.linear.weight")),
        "final_layer.adaLN_modulation.1.bias": _swap(g.pop("norm_out.linear.bias")),
    }
    for a, b in (("timestep_embedder", "t_embedder"), ("text_embedder", "y_embedder")):
        for lin, idx in (("linear_1", 0), ("linear_2", 2)):
            for leaf in ("weight", "bias"):
                out[f"{b}.mlp.{idx}.{leaf}"] = g.pop(f"time_text_embed.{a}.{lin}.{leaf}")
    n = int(config["num_layers"])
    for i in range(n):
        t, o = f"transformer_blocks.{i}.", f"joint_blocks.{i}."
        last = i == n - 1
        for leaf in ("weight", "bias"):
            out[f"{o}x_block.attn.qkv.{leaf}"] = torch.cat([g.pop(f"{t}attn.to_{c}.{leaf}") for c in "qkv"])
            out[f"{o}context_block.attn.qkv.{leaf}"] = torch.cat([g.pop(f"{t}attn.add_{c}_proj.{leaf}") for c in "qkv"])
            out[f"{o}x_block.attn.proj.{leaf}"] = g.pop(f"{t}attn.to_out.0.{leaf}")
            out[f"{o}x_block.adaLN_modulation.1.{leaf}"] = g.pop(f"{t}norm1.linear.{leaf}")
            ctx = g.pop(f"{t}norm1_context.linear.{leaf}")
            out[f"{o}context_block.adaLN_modulation.1.{leaf}"] = _swap(ctx) if last else ctx
            out[f"{o}x_block.mlp.fc1.{leaf}"] = g.pop(f"{t}ff.net.0.proj.{leaf}")
            out[f"{o}x_block.mlp.fc2.{leaf}"] = g.pop(f"{t}ff.net.2.{leaf}")
            if not last:
                out[f"{o}context_block.attn.proj.{leaf}"] = g.pop(f"{t}attn.to_add_out.{leaf}")
                out[f"{o}context_block.mlp.fc1.{leaf}"] = g.pop(f"{t}ff_context.net.0.proj.{leaf}")
                out[f"{o}context_block.mlp.fc2.{leaf}"] = g.pop(f"{t}ff_context.net.2.{leaf}")
            if f"{t}attn2.to_q.{leaf}" in g:
                out[f"{o}x_block.attn2.qkv.{leaf}"] = torch.cat([g.pop(f"{t}attn2.to_{c}.{leaf}") for c in "qkv"])
                out[f"{o}x_block.attn2.proj.{leaf}"] = g.pop(f"{t}attn2.to_out.0.{leaf}")
        for a, b in (("norm_q", "x_block.attn.ln_q"), ("norm_k", "x_block.attn.ln_k")):
            if f"{t}attn.{a}.weight" in g:
                out[f"{o}{b}.weight"] = g.pop(f"{t}attn.{a}.weight")
        for a, b in (("norm_added_q", "context_block.attn.ln_q"), ("norm_added_k", "context_block.attn.ln_k")):
            if f"{t}attn.{a}.weight" in g:
                out[f"{o}{b}.weight"] = g.pop(f"{t}attn.{a}.weight")
        for a, b in (("norm_q", "x_block.attn2.ln_q"), ("norm_k", "x_block.attn2.ln_k")):
            if f"{t}attn2.{a}.weight" in g:
                out[f"{o}{b}.weight"] = g.pop(f"{t}attn2.{a}.weight")
    if g:
        raise KeyError(f"no MMDiT name for {sorted(g)[:5]}")
    return out


def flux_to_original(sd: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> Tensors:
    """FluxTransformer2DModel -> BFL keys (``double_blocks``/``single_blocks``, fused qkv and linear1)."""
    g = dict(sd)
    out: Tensors = {}
    top = {
        "time_text_embed.timestep_embedder": "time_in",
        "time_text_embed.text_embedder": "vector_in",
        "time_text_embed.guidance_embedder": "guidance_in",
    }
    for a, b in top.items():
        for lin, new in (("linear_1", "in_layer"), ("linear_2", "out_layer")):
            for leaf in ("weight", "bias"):
                if f"{a}.{lin}.{leaf}" in g:
                    out[f"{b}.{new}.{leaf}"] = g.pop(f"{a}.{lin}.{leaf}")
    for leaf in ("weight", "bias"):
        out[f"txt_in.{leaf}"] = g.pop(f"context_embedder.{leaf}")
        out[f"img_in.{leaf}"] = g.pop(f"x_embedder.{leaf}")
        out[f"final_layer.linear.{leaf}"] = g.pop(f"proj_out.{leaf}")
        out[f"final_layer.adaLN_modulation.1.{leaf}"] = _swap(g.pop(f"norm_out.linear.{leaf}"))
    for i in range(int(config["num_layers"])):
        t, o = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        for leaf in ("weight", "bias"):
            out[f"{o}img_mod.lin.{leaf}"] = g.pop(f"{t}norm1.linear.{leaf}")
            out[f"{o}txt_mod.lin.{leaf}"] = g.pop(f"{t}norm1_context.linear.{leaf}")
            out[f"{o}img_attn.qkv.{leaf}"] = torch.cat([g.pop(f"{t}attn.to_{c}.{leaf}") for c in "qkv"])
            out[f"{o}txt_attn.qkv.{leaf}"] = torch.cat([g.pop(f"{t}attn.add_{c}_proj.{leaf}") for c in "qkv"])
            out[f"{o}img_mlp.0.{leaf}"] = g.pop(f"{t}ff.net.0.proj.{leaf}")
            out[f"{o}img_mlp.2.{leaf}"] = g.pop(f"{t}ff.net.2.{leaf}")
            out[f"{o}txt_mlp.0.{leaf}"] = g.pop(f"{t}ff_context.net.0.proj.{leaf}")
            out[f"{o}txt_mlp.2.{leaf}"] = g.pop(f"{t}ff_context.net.2.{leaf}")
            out[f"{o}img_attn.proj.{leaf}"] = g.pop(f"{t}attn.to_out.0.{leaf}")
            out[f"{o}txt_attn.proj.{leaf}"] = g.pop(f"{t}attn.to_add_out.{leaf}")
        out[f"{o}img_attn.norm.query_norm.scale"] = g.pop(f"{t}attn.norm_q.weight")
        out[f"{o}img_attn.norm.key_norm.scale"] = g.pop(f"{t}attn.norm_k.weight")
        out[f"{o}txt_attn.norm.query_norm.scale"] = g.pop(f"{t}attn.norm_added_q.weight")
        out[f"{o}txt_attn.norm.key_norm.scale"] = g.pop(f"{t}attn.norm_added_k.weight")
    for i in range(int(config["num_single_layers"])):
        t, o = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        for leaf in ("weight", "bias"):
            out[f"{o}modulation.lin.{leaf}"] = g.pop(f"{t}norm.linear.{leaf}")
            parts = [g.pop(f"{t}attn.to_{c}.{leaf}") for c in "qkv"] + [g.pop(f"{t}proj_mlp.{leaf}")]
            out[f"{o}linear1.{leaf}"] = torch.cat(parts)
            out[f"{o}linear2.{leaf}"] = g.pop(f"{t}proj_out.{leaf}")
        out[f"{o}norm.query_norm.scale"] = g.pop(f"{t}attn.norm_q.weight")
        out[f"{o}norm.key_norm.scale"] = g.pop(f"{t}attn.norm_k.weight")
    if g:
        raise KeyError(f"no BFL name for {sorted(g)[:5]}")
    return out


def prefixed(prefix: str, sd: Mapping[str, torch.Tensor]) -> Tensors:
    return {prefix + k: v for k, v in sd.items()}

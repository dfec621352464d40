"""Our MLX transformer against the official ltx-core 1.2.0 one (its own loader, same tiny file), float32, on the
inputs where 1.2.0 differs from 1.0.0: conditioned tokens at other timesteps than the noisy ones (1.2.0 feeds the
AV cross-attention scale/shift AdaLN this modality's per-token timesteps; the gate still sees the other
modality's sigma) and a frozen stream (timesteps 0 and sigma 0). Each case runs in one oracle subprocess."""

from dataclasses import replace

import mlx.core as mx
import numpy as np
import pytest
from helpers import FP32_TOL, make_inputs
from oracles import v12
from oracles.compare import to_numpy
from oracles.v12_scripts import HEAD

from ltx2.models.transformer import BatchPerturbations, X0Model, stg
from ltx2.models.transformer.load import load_transformer
from ltx2.tiny.checkpoint import write_tiny_checkpoint

SCRIPT = HEAD + '''
from ltx_core.guidance.perturbations import (BatchedPerturbationConfig, Perturbation, PerturbationConfig,
                                             PerturbationType)
model = load_x0(I["checkpoint"])
for case in I["cases"]:
    mods = []
    for m in ("video", "audio"):
        p = f"{case}_{m}_"
        mods.append(Modality(latent=t(p + "latent"), sigma=t(p + "sigma"), timesteps=t(p + "timesteps"),
                             positions=t(p + "positions"), context=t(p + "context"), enabled=True))
    blocks = [int(b) for b in I[f"{case}_stg"]]
    perturbations = BatchedPerturbationConfig([PerturbationConfig(
        [Perturbation(type=kind, blocks=blocks) for kind in (PerturbationType.SKIP_VIDEO_SELF_ATTN,
                                                             PerturbationType.SKIP_AUDIO_SELF_ATTN) if blocks])],
        num_blocks=len(model.velocity_model.transformer_blocks), device=CPU, dtype=F32)
    with torch.no_grad():
        v, a = model(video=mods[0], audio=mods[1], perturbations=perturbations)
    O[case + "_video"], O[case + "_audio"] = v, a
'''


def arrays(prefix: str, m) -> dict:
    return {f"{prefix}{k}": to_numpy(getattr(m, k)) for k in ("latent", "sigma", "timesteps", "positions", "context")}


CASES = {  # name: (video mask partial, audio frozen, STG blocks)
    "conditioned": (True, False, []),
    "conditioned_stg": (True, False, [1]),
    "frozen_audio": (True, True, []),
}


@v12.needed
@pytest.mark.parametrize("layout,rope,grid", [("ltx2", "split", "float64"), ("ltx2.3", "split", "float64"),
                                              ("ltx2", "interleaved", "float32"), ("ltx2.3", "interleaved", "float32")])
def test_av_forward_with_conditioned_tokens_matches_1_2_0(tmp_path, layout, rope, grid):
    """x0 of both streams, float32, plain, with STG on block 1, and with the audio frozen; measured max abs
    error <= 6.9e-6 for both layouts and both RoPE kinds (values up to ~5)."""
    path = write_tiny_checkpoint(tmp_path / f"{layout}.safetensors", layout, seed=1,
                                 transformer={"rope_type": rope, "frequencies_precision": grid})
    ours = X0Model(load_transformer(path, "float32"))
    inputs, expected = {}, {}
    for case, (partial, frozen, blocks) in CASES.items():
        video, audio = make_inputs(layout, partial_mask=partial)
        if frozen:  # a frozen stream: mask 0 everywhere and sigma 0
            audio = replace(audio, sigma=mx.zeros_like(audio.sigma), timesteps=mx.zeros_like(audio.timesteps))
        perturbations = BatchPerturbations.same(stg(blocks)) if blocks else None
        expected[case] = ours(video, audio, perturbations)
        inputs.update(**arrays(f"{case}_video_", video), **arrays(f"{case}_audio_", audio))
        inputs[f"{case}_stg"] = blocks
    ref = v12.run(SCRIPT, checkpoint=path, cases=list(CASES), **inputs)
    for case, (v, a) in expected.items():
        for name, o in (("video", v), ("audio", a)):
            r = ref[f"{case}_{name}"]
            err = float(np.abs(to_numpy(o) - r).max())
            print(f"\nPARITY-1.2.0 transformer {layout} {rope}-{grid} {case} {name}: max abs err {err:.2e}, "
                  f"max|x| {np.abs(r).max():.2f}")
            assert np.abs(r).std() > 0.5 and err <= FP32_TOL, f"{case} {name}: {err}"


AUDIO_ONLY_SCRIPT = HEAD + '''
from ltx_core.guidance.perturbations import (BatchedPerturbationConfig, Perturbation, PerturbationConfig,
                                             PerturbationType)
from ltx_core.model.transformer import LTXV_AUDIO_ONLY_MODEL_COMFY_RENAMING_MAP, LTXAudioOnlyModelConfigurator
builder = SingleGPUModelBuilder(model_class_configurator=LTXAudioOnlyModelConfigurator, model_path=I["checkpoint"],
                                model_sd_ops=LTXV_AUDIO_ONLY_MODEL_COMFY_RENAMING_MAP)
model = X0Model(builder.build(device=CPU, dtype=F32)).eval()
O["parameters"] = np.array(sorted(n for n, _ in model.velocity_model.named_parameters()))
audio = Modality(latent=t("latent"), sigma=t("sigma"), timesteps=t("timesteps"), positions=t("positions"),
                 context=t("context"), enabled=True)
perturbations = BatchedPerturbationConfig(
    [PerturbationConfig([Perturbation(type=PerturbationType.SKIP_AUDIO_SELF_ATTN, blocks=[1])])],
    num_blocks=len(model.velocity_model.transformer_blocks), device=CPU, dtype=F32)
with torch.no_grad():
    O["plain"] = model(video=None, audio=audio, perturbations=None)[1]
    O["stg"] = model(video=None, audio=audio, perturbations=perturbations)[1]
'''


@v12.needed
def test_audio_only_transformer_matches_1_2_0(tmp_path):
    """The audio-only transformer (pipeline=t2a; 1.2.0 ``LTXAudioOnlyModelConfigurator`` with its audio-only key
    filter) on a tiny LTX-2.3 file: the same parameters (no video or audio-video layer), the same x0 plain and with
    audio STG on block 1, and the same x0 as the audio-video model given no video."""
    from mlx.utils import tree_flatten

    path = write_tiny_checkpoint(tmp_path / "ltx2.3.safetensors", "ltx2.3", seed=1)
    model = load_transformer(path, "float32", video=False)
    ours, full = X0Model(model), X0Model(load_transformer(path, "float32"))
    _, audio = make_inputs("ltx2.3")
    ref = v12.run(AUDIO_ONLY_SCRIPT, checkpoint=path, **arrays("", audio))
    assert sorted(k for k, _ in tree_flatten(model.parameters())) == list(ref["parameters"])
    for case, perturbations in (("plain", None), ("stg", BatchPerturbations.same(stg([1])))):
        _, a = ours(None, audio, perturbations)
        err = float(np.abs(to_numpy(a) - ref[case]).max())
        print(f"\nPARITY-1.2.0 audio-only transformer ltx2.3 {case}: max abs err {err:.2e}, "
              f"max|x| {np.abs(ref[case]).max():.2f}")
        assert np.abs(ref[case]).std() > 0.5 and err <= FP32_TOL, f"{case}: {err}"
        assert np.array_equal(to_numpy(a), to_numpy(full(None, audio, perturbations)[1]))

"""pipeline=dubit from the command line on the tiny LTX-2.5 model (experiment=dubit with a tiny IC-LoRA in place of
the hf:// file; the numbers: test_dubit_parity_25.py), and the refusals that come before any weight is loaded."""

import pytest
from test_dubit_parity_25 import tiny_ic_lora25, tone, write_clip

from ltx2.conditioning.source_video import _audio_rate
from ltx2.io.media import read_video, write_wav


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dubit_inputs")
    write_wav(folder / "voice.wav", tone(0.8), 48000)
    write_wav(folder / "silence.wav", tone(0.8) * 0, 48000)
    (folder / "notes.mp4").write_text("not a video")
    return {"clip": write_clip(folder / "speaker.mp4", 10), "mute": write_clip(folder / "mute.mp4", 9, audio=False),
            "voice": folder / "voice.wav", "silence": folder / "silence.wav", "junk": folder / "notes.mp4",
            "lora": tiny_ic_lora25(folder / "dubit.safetensors"),
            "lora2": tiny_ic_lora25(folder / "dubit2.safetensors", seed=8, factor=2)}


def _base(inputs, *extra):
    return ("model=tiny25", "experiment=dubit", f"conditioning.path={inputs['clip']}",
            f"lora.dubit.path={inputs['lora']}", "width=128", "height=64", *extra)


def test_dubit_experiment_writes_the_dubbed_video(cli, inputs):
    """A silent 9-frame clip with the voice from a WAV file (``conditioning.audio_path``; the clip's own
    soundtrack: test_dubit_parity_25): its fps is kept; both stages run with the IC-LoRA fused once; the video has
    the requested size and a soundtrack; the record names the pipeline, the conditioning, the LoRA, the voice."""
    proc = cli(*_base(inputs, f"conditioning.path={inputs['mute']}", f"conditioning.audio_path={inputs['voice']}",
                      "prompt='she says: see you tomorrow'"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = cli.run_dirs()[-1]
    record = cli.record(run_dir)
    assert record["status"] == "completed" and record["choices"]["pipeline"] == "dubit"
    assert record["choices"]["conditioning"] == "dubit" and record["choices"]["lora"] == ["dubit"]
    assert {"encode_audio", "denoise_stage_1", "upsample", "denoise_stage_2", "decode_audio"} <= set(record["phases"])
    assert record["process"]["counts"]["fuse:transformer"] == 1  # one IC-LoRA fusion serves both stages
    assert record["samplers"] == {"stage_1": "euler", "stage_2": "euler"}  # 1.2.0's Dub-It: no ancestral stage
    assert record["dubit"]["voice"] == str(inputs["voice"]) and record["dubit"]["reference_downscale_factor"] == 1
    assert record["dubit"]["voice_latent_frames"] == 21  # 0.8 s: 81 mel frames (centred STFT), causal /4 -> 21
    frames, meta = read_video(run_dir / "video.mp4")
    assert frames.shape == (9, 64, 128, 3) and meta["fps"] == 24.0
    assert _audio_rate(run_dir / "video.mp4") is not None  # the generated speech is muxed in


ALONE = ("model=tiny25", "width=128", "height=64")  # refusals given without experiment=dubit
REFUSALS = {
    "no clip": ((*ALONE, "pipeline=dubit"), "needs conditioning=dubit"),
    "clip without dubit": ((*ALONE, "conditioning=dubit", "conditioning.path={clip}"), "drives pipeline=dubit only"),
    "no LoRA": ((*ALONE, "pipeline=dubit", "conditioning=dubit", "conditioning.path={clip}", "model.tiny=false"),
                "exactly one LoRA"),  # model.tiny=false: a tiny model would take the dubit preset's stand-in
    "missing clip": (("conditioning.path=/no/such/speaker.mp4",), "does not exist"),
    "undecodable clip": (("conditioning.path={junk}",), "cannot be decoded"),
    "clip without sound": (("conditioning.path={mute}",), "has no audio track"),
    "missing voice file": (("conditioning.audio_path=/no/such/voice.wav",), "the voice file does not exist"),
    "silent voice": (("conditioning.audio_path={silence}",), "is silent"),
    "num_frames set": (("num_frames=17",), "takes the frame count and fps of the clip"),
    "strength above 1": (("conditioning.strength=1.5",), "conditioning.strength=1.5"),
    "two LoRAs": (("+lora.other={{path:{lora2},strength:1.0}}",), "exactly one LoRA"),
    "dev model": (("model.name=ltx2_5_22b_dev",), "runs a distilled model"),
    "downscale factor vs size": (("lora.dubit.path={lora2}",), "height=64: the IC-LoRA's reference_downscale"),
}


CLI_REFUSALS = ("no clip", "num_frames set")


def _overrides(inputs, case):
    overrides, expected = REFUSALS[case]
    overrides = tuple(o.format(**inputs) for o in overrides)
    return list(overrides if overrides[:3] == ALONE else _base(inputs, *overrides)), expected


@pytest.mark.parametrize("case", CLI_REFUSALS)
def test_dubit_refusals_from_the_command_line(cli, inputs, case):
    overrides, expected = _overrides(inputs, case)
    proc = cli(*overrides)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = [line for line in proc.stderr.splitlines() if line.startswith("ltx2: invalid config:")]
    assert len(lines) == 1 and expected in lines[0], proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and not cli.files()


@pytest.mark.parametrize("case", sorted(set(REFUSALS) - set(CLI_REFUSALS)))
def test_dubit_refusals_before_loading(inputs, case, cache_dir, tmp_path, monkeypatch):
    """The same checks in-process (``runner.prepare``, which the CLI runs before loading anything): the one-line
    error, and no network loaded."""
    from helpers import compose_run

    from ltx2.errors import ConfigError
    from ltx2.experiment.runner import prepare
    from ltx2.loading import model_set

    monkeypatch.setenv("LTX2_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("LTX2_OUTPUT_ROOT", str(tmp_path / "runs"))
    overrides, expected = _overrides(inputs, case)
    before = model_set.stats()
    with pytest.raises(ConfigError) as error:
        prepare(compose_run(overrides))
    assert expected in str(error.value) and "\n" not in str(error.value)
    assert model_set.stats() == before

"""The 1.2.0 reference's prompt encoding on the split LTX-2.5 files, for the pipeline parity tests
(``v12.run(HEAD + PROMPTS + BODY, ...)``).

``PROMPTS`` runs ltx-pipelines 1.2.0's own ``PromptEncoder`` (``ModelPaths.from_split(transformer, text_encoder)``:
Gemma 4 from the text-encoder file, then the embeddings processor from (transformer, text encoder)) on
``I["prompts"]``, float32, and puts the contexts where the pipeline script reads them: ``I["ctx_<i>"]`` = positive
video, positive audio, then (with a negative prompt) negative video, negative audio; the same arrays come back as
``O["ref_ctx_<i>"]`` (``I["unused_contexts"]``: indices the pipeline does not pass on). The one departure from
the official block: its Gemma builder is given without the ``ProcessorLoad`` module op (the Gemma 4 processor
imports torchvision, which does not load beside the oracle's CPU torch; only prompt enhancement uses the
processor), as the text-encoder parity test does.
"""

PROMPTS = '''
from ltx_core.text_encoders.gemma.encoders.encoder_configurator import GemmaTextEncoderConfigurator, get_gemma_ops
from ltx_core.text_encoders.gemma.gemma_assets import resolve_gemma_weight_paths
from ltx_pipelines.utils.blocks import Builder, PromptEncoder
from ltx_pipelines.utils.model_paths import ModelPaths


def _prompt_encoder(transformer, text_encoder):
    sd_ops, module_ops = get_gemma_ops(text_encoder)
    gemma = Builder(model_path=resolve_gemma_weight_paths(text_encoder),
                    model_class_configurator=GemmaTextEncoderConfigurator.with_gemma_model_path(text_encoder),
                    model_sd_ops=sd_ops, module_ops=tuple(op for op in module_ops if op.name != "ProcessorLoad"))
    paths = ModelPaths.from_split(transformer_path=transformer, text_encoder_path=text_encoder)
    return PromptEncoder(paths, F32, CPU, text_encoder_builder=gemma)


with torch.no_grad():
    _encoded = _prompt_encoder(I["checkpoint"], I["text_encoder"])(list(I["prompts"]))
for _i, _c in enumerate(c for out in _encoded for c in (out.video_encoding, out.audio_encoding)):
    I[f"ctx_{_i}"] = _c.float().numpy()
    O[f"ref_ctx_{_i}"] = _c
for _i in I.get("unused_contexts", []):  # e.g. a2v: its audio guider has no negative context
    del I[f"ctx_{_i}"]
'''

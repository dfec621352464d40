"""The 1.2.0 reference's prompt enhancement with a separate enhancer root (``--prompt-enhancer-gemma-root``), for
``v12.run(ENHANCE, root=..., prompt=..., max_new_tokens=...)``.

Built as the official ``PromptEncoder`` builds its enhancer (``get_gemma_ops(root)`` + ``Builder`` over the root's
safetensors, float32 on the CPU) and run through the official ``enhance_t2v`` (``max_new_tokens`` 0: the
reference's default, via ``generate_enhanced_prompt`` exactly as the pipelines call it). ``O``: ``input_ids`` (the
left-padded prompt ids), ``attention_mask``, ``generated`` (the new ids, a final stop token included) and
``text`` (the cleaned enhanced prompt as uint8 UTF-8 bytes).

Departure from the official block: the Gemma 4 processor imports torchvision, which does not load beside the
oracle's CPU torch, so the ``ProcessorLoad`` op is left out and a text-only stand-in takes the processor's place:
it tokenizes the rendered chat text with the same tokenizer object (``processor.tokenizer``), which is what the
Gemma 4 processor does for text without images (it adds only ``mm_token_type_ids``, which a text-only prompt
does not use).
"""

ENHANCE = '''
from ltx_core.text_encoders.gemma.encoders.encoder_configurator import GemmaTextEncoderConfigurator, get_gemma_ops
from ltx_core.text_encoders.gemma.gemma_assets import resolve_gemma_weight_paths
from ltx_pipelines.utils.blocks import Builder
from ltx_pipelines.utils.helpers import clean_response, generate_enhanced_prompt

_root = I["root"]
_sd_ops, _module_ops = get_gemma_ops(_root)
_enhancer = Builder(model_path=resolve_gemma_weight_paths(_root),
                    model_class_configurator=GemmaTextEncoderConfigurator.with_gemma_model_path(_root),
                    model_sd_ops=_sd_ops, module_ops=tuple(op for op in _module_ops if op.name != "ProcessorLoad")
                    ).build(device=torch.device("cpu"), dtype=torch.float32).eval()


class _TextOnlyProcessor:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, text, images=None, return_tensors="pt"):
        assert images is None, "the stand-in processor takes text only"
        return self.tokenizer(text, return_tensors=return_tensors)


_enhancer.processor = _TextOnlyProcessor(_enhancer.tokenizer.tokenizer)
_generate, _seen = _enhancer.model.generate, {}


def _recording_generate(**kwargs):
    out = _generate(**kwargs)
    _seen.update(kwargs, out=out)
    return out


_enhancer.model.generate = _recording_generate
if I["max_new_tokens"]:
    _text = clean_response(_enhancer.enhance_t2v(I["prompt"], max_new_tokens=I["max_new_tokens"], seed=I["seed"]))
else:
    _text = generate_enhanced_prompt(_enhancer, I["prompt"], seed=I["seed"])
O["input_ids"] = _seen["input_ids"][0].numpy()
O["attention_mask"] = _seen["attention_mask"][0].numpy()
O["generated"] = _seen["out"][0, _seen["input_ids"].shape[1]:].numpy()
O["text"] = np.frombuffer(_text.encode(), dtype=np.uint8)
'''

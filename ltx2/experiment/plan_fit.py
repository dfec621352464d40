"""The memory check before a run (``plan.show`` / ``plan.force``) and, when the predicted peak does not fit, the
cheapest settings that do: combinations of streaming, text-encoder bits and weight bits, then a smaller size or
fewer frames. The per-phase prediction itself is ``ltx2.experiment.planner``."""

from __future__ import annotations

from dataclasses import replace

from ltx2.errors import ConfigError
from ltx2.experiment.estimates import available_memory
from ltx2.experiment.planner import GIB, MemoryPlan, Request, plan_run, request_of, settings_of


def check(cfg, models, pipeline, conditioning, guidance) -> MemoryPlan:
    """The plan of this job; raises ConfigError when it does not fit and ``plan.force`` is off (and ``plan=true``
    only shows it)."""
    settings = settings_of(cfg)
    if settings.available_gb is not None and settings.memory_gb is not None:
        raise ConfigError("plan.memory_gb", settings.memory_gb, "plan.available_gb is set too; they are one setting",
                          "give only plan.memory_gb=<GiB>")
    budget = settings.memory_gb if settings.memory_gb is not None else settings.available_gb
    available = int(budget * GIB) if budget is not None else available_memory()
    request = request_of(cfg, pipeline, conditioning, guidance, models)
    plan = plan_run(models, pipeline, request, available)
    plan.notes = list(getattr(models, "plan_notes", ()))
    if plan.fits or settings.force:
        return plan
    fits = alternatives(plan, models, pipeline, supports_quantize="quantize" in cfg.model,
                        multiple=getattr(pipeline, "RESOLUTION_MULTIPLE", 32))
    if settings.show:  # plan=true: the table, then the settings that would fit (plan.available_gb=16: on 16 GiB)
        plan.fitting = fits or ["nothing smaller fits either"]
        return plan
    options = "; ".join(fits) if fits else "nothing smaller fits either: use a machine with more memory"
    raise ConfigError("plan", f"{plan.peak / GIB:.2f} GiB", f"the predicted peak memory ({plan.peak_phase.name}) "
                         f"exceeds the {plan.available / GIB:.2f} GiB available (plan=true shows each phase)",
                         f"these would fit: {options}; or plan.force=true to run anyway")


# cheaper-to-costlier settings (quality and speed): streaming costs only time, text-encoder bits little quality
_KNOBS = (("offload", "disk", "model.offload=disk", 1), ("text_quantize_bits", 8, "text.quantize_bits=8", 2),
          ("quantize_bits", 8, "model.quantize=8", 3), ("text_quantize_bits", 4, "text.quantize_bits=4", 4),
          ("quantize_bits", 4, "model.quantize=4", 5))


def _overrides(settings: dict) -> dict:
    """model.offload=disk streams the transformer's blocks and Gemma's layers."""
    return {**settings, "text_offload": "disk"} if settings.get("offload") == "disk" else settings


def alternatives(plan: MemoryPlan, models, pipeline, supports_quantize: bool, multiple: int) -> list[str]:
    """Override sets that bring the predicted peak under the available memory, each with its prediction, the
    cheapest first: the combinations of streaming, text-encoder bits and weight bits (those that add nothing to a
    cheaper fitting set left out), then a smaller size or fewer frames (with every saving on when no combination
    fits at this size)."""
    r = plan.request
    streamed = r.offload == "disk" and r.text_offload == "disk"
    knobs = [k for k in _KNOBS if (supports_quantize or k[0] != "quantize_bits")
             and (not streamed if k[0] == "offload" else getattr(r, k[0]) != k[1])
             and not (k[0] != "offload" and getattr(r, k[0]) is not None and getattr(r, k[0]) <= k[1])]
    combos = []
    for mask in range(1, 2 ** len(knobs)):
        chosen = [k for i, k in enumerate(knobs) if mask >> i & 1]
        if len({k[0] for k in chosen}) == len(chosen):  # one value per setting
            combos.append((sum(k[3] for k in chosen), len(chosen), chosen))
    fitting: list[tuple[set, str]] = []

    def attempt(labels: list[str], request: Request) -> bool:
        other = plan_run(models, pipeline, request, plan.available, plan.knobs, base=plan.base)
        if other.fits:  # the cheapest with its phases
            phases = "" if fitting else ": " + ", ".join(f"{p.name} {other.total(p) / GIB:.2f}" for p in other.phases)
            fitting.append((set(labels), f"{' '.join(labels)} ({other.peak / GIB:.2f} GiB{phases})"))
        return other.fits

    for _, _, chosen in sorted(combos, key=lambda c: (c[0], c[1])):
        labels = [k[2] for k in chosen]
        if len(fitting) < 4 and not any(done <= set(labels) for done, _ in fitting):
            attempt(labels, replace(r, **_overrides({k[0]: k[1] for k in chosen})))
    saving: dict = {}  # then smaller sizes or fewer frames: as they are, or with every saving on if none fits yet
    for name, value, _, _ in knobs:
        saving[name] = value if name == "offload" else min(value, saving.get(name, value))
    most = replace(r, **_overrides(saving)) if not fitting else r
    labels = [k[2] for k in knobs if saving.get(k[0]) == k[1]] if not fitting else []
    for scale in (0.75, 0.5, 0.25):
        w, h = (max(multiple, int(v * scale) // multiple * multiple) for v in (r.width, r.height))
        if (w, h) != (r.width, r.height) and attempt(labels + [f"width={w} height={h}"],
                                                     replace(most, width=w, height=h)):
            break
    for frames in (r.num_frames // 2 // 8 * 8 + 1, 9, 1):
        if frames < r.num_frames and attempt(labels + [f"num_frames={frames}"], replace(most, num_frames=frames)):
            break
    return [text for _, text in fitting]

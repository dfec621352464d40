"""``plan=true`` before the download: a preset's ``hf://`` files that are not in the Hugging Face cache are replaced
by shape-only copies of them (ltx2.loading.known_shapes) when ltx2 knows their shapes, so that the checks and the
memory planner read the same headers as they would from the real files; a required file whose shapes ltx2 does
not know is one clear line. Files that are present are read as they are, and checked against the known shapes.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from ltx2.errors import ConfigError
from ltx2.loading import known_shapes
from ltx2.loading.hub import cached_path, fetch_command, parse


def scratch_folder() -> Path:
    """A folder for this process's shape-only copies, removed when it exits."""
    folder = Path(tempfile.mkdtemp(prefix="ltx2-shapes-only-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def stand_in_missing(models, folder: str | Path, need_upsampler: bool, need_distilled_lora: bool) -> list[str]:
    """Replace the missing known files of ``models`` (a ModelSet, files not yet resolved) by shape-only copies under
    ``folder``; the notes the plan prints (what was planned from known shapes, and any real file that differs from
    them). Raises ConfigError for a required file that is missing and unknown."""
    fields = [("model.checkpoint", "checkpoint", True), ("model.gemma_root", "gemma_root", True),
              ("model.spatial_upsampler", "spatial_upsampler", need_upsampler),
              ("model.distilled_lora", "distilled_lora", need_distilled_lora)]
    fields += [(f"model.{c}", c, c in ("transformer", "text_encoder", "video_vae")) for c in models.component_files]
    planned, notes, release = [], [], None
    for key, name, required in fields:
        value = models.component_files.get(name) if name in models.component_files else getattr(models, name)
        ref = parse(value) if isinstance(value, str) else None
        if ref is None:
            continue
        entry, present = known_shapes.known(str(ref)), cached_path(ref)
        if present is not None:
            if entry is not None:
                differs = known_shapes.differences(present, entry["digest"])
                if differs:
                    notes.append(f"note: {ref} differs from the shapes ltx2 keeps for {entry['release']} "
                                 f"({'; '.join(differs[:3])}): regenerate them with tools/make_release_shapes.py")
            continue
        if entry is None:
            if required:
                raise ConfigError(key, str(ref), f"plan=true without the files: ltx2 does not know the shapes of "
                                  f"{ref.what} (only the official releases' files in ltx2/loading/releases/)",
                                  f"fetch it first (`{fetch_command(models.name)}`) or give a local copy: "
                                  f"{key}=/path/to/it")
            continue
        path = str(known_shapes.stand_in(str(ref), folder))
        if name in models.component_files:
            models.component_files[name] = path
        else:
            setattr(models, name, path)
        planned.append(ref.filename or ref.repo)
        release = release or entry["release"]  # the model file's release (Gemma is shared)
    if planned:
        notes.insert(0, f"planned before the download, from the shapes ltx2 keeps for {release} "
                        f"(ltx2/loading/releases/): {', '.join(planned)}")
    return notes

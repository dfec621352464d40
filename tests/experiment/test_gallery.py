"""The sweep gallery in a real browser (headless Chromium through Playwright), the contact sheet, stepwise
previews, the identical-outputs report, the runs page and the latest links."""

import json
import shutil
import time
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

from ltx2.experiment.previews import cell_means, fit_projection, project
from ltx2.io.media import read_video

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
LABELS = {f"guider.cfg_scale={c} seed={s}" for c in (1, 3) for s in (0, 1)}


def _sweep_dir(cli, name: str) -> Path:
    return (cli.runs / "sweeps" / name).resolve()


def _browser():
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (tools/setup_env.sh --test installs Debian's chromium where it can)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    return sync_playwright


def _open(browser, index: Path, width: int, errors: list):
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(index.as_uri())
    return page


def test_sweep_gallery_in_a_browser(cli, tmp_path):
    """A 2x2 tiny sweep (with previews) and a sweep with a job that fails at run time (a corrupt noise file)."""
    sync_playwright = _browser()
    proc = cli("-m", "guider.cfg_scale=1,3", "seed=0,1", "output.previews=2", "hydra.sweep.dir=runs/sweeps/grid")
    assert proc.returncode == 0, proc.stderr
    bad = tmp_path / "corrupt-noise.safetensors"
    bad.write_text("not a safetensors file")
    proc = cli("-m", f"noise.from_file=null,{bad}", "hydra.sweep.dir=runs/sweeps/broken")
    assert proc.returncode != 0  # Hydra reports the failed job after the sweep
    grid, broken = _sweep_dir(cli, "grid"), _sweep_dir(cli, "broken")
    for sweep in (grid, broken):
        assert (sweep / "index.html").is_file() and (sweep / "sweep_grid.mp4").is_file()
    sheet, _ = read_video(grid / "sweep_grid.mp4")
    assert sheet.shape[1:3] == (2 * (64 + 14), 2 * 96)  # 2x2 tiles of 96x64 under 14-px labels
    assert len(list(grid.glob("*/previews/denoise_step00*.png"))) == 8 and (grid / "sweep_grid.png").is_file()
    assert (cli.runs / "sweeps" / "latest").resolve() == broken

    screenshot = tmp_path / "gallery.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--autoplay-policy=no-user-gesture-required"])
        errors: list[str] = []
        page = _open(browser, grid / "index.html", 1200, errors)
        labels = page.eval_on_selector_all(".grid .cell", "cs => cs.map(c => c.dataset.label)")
        assert set(labels) == LABELS and len(labels) == 4
        page.wait_for_function("[...document.querySelectorAll('video')].every(v => v.readyState >= 2)",
                               timeout=30000)
        assert page.evaluate("document.querySelectorAll('video').length") == 4
        assert page.evaluate("document.querySelectorAll('img[alt=\"denoising progress\"]').length") == 4
        page.click("#play")
        time.sleep(0.3)  # the videos last 0.71 s
        times = page.evaluate("[...document.querySelectorAll('video')].map(v => v.currentTime)")
        assert min(times) > 0.05, times
        assert max(times) - min(times) <= 1 / 24, times
        time.sleep(0.2)
        later = page.evaluate("[...document.querySelectorAll('video')].map(v => v.currentTime)")
        assert max(later) - min(later) <= 1 / 24 and later != times, (times, later)
        diff = page.inner_text("#diff")
        assert "guider.cfg_scale" in diff and "seed" in diff
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
        page.set_viewport_size({"width": 1000, "height": 900})
        page.click("#play")  # pause, so the screenshot is steady
        page.screenshot(path=str(screenshot), full_page=True)

        failed_page = _open(browser, broken / "index.html", 390, errors)
        failed = failed_page.locator('.cell[data-status="failed"]')
        assert failed.count() == 1
        assert "failed" in failed.inner_text() and "safetensors" in failed.inner_text()
        assert failed_page.locator('.cell[data-status="completed"]').count() == 1
        assert failed_page.evaluate("document.scrollingElement.scrollWidth") <= 390
        browser.close()
    assert errors == []
    assert screenshot.stat().st_size > 10_000
    print(f"gallery screenshot: {screenshot}")


def test_identical_outputs_name_the_keys_without_effect(cli):
    """text.cache only decides where the prompt's contexts are kept: the videos come out byte-identical."""
    proc = cli("-m", "text.cache=true,false", "debug=default", "hydra.sweep.dir=runs/sweeps/inert", "gallery=false")
    assert proc.returncode == 0, proc.stderr
    sweep = _sweep_dir(cli, "inert")
    assert "text.cache: these keys had no effect" in proc.stderr
    summary = json.loads((sweep / "sweep_summary.json").read_text())
    (group,) = summary["identical_outputs"]
    assert group["keys"] == ["text.cache"] and len(group["jobs"]) == 2
    assert "Identical outputs: jobs 000_text.cache=True, 001_text.cache=False" in (sweep / "sweep_summary.md").read_text()
    assert not (sweep / "index.html").exists() and not (sweep / "sweep_grid.mp4").exists()  # gallery=false
    # a sweep whose jobs differ reports nothing
    proc = cli("-m", "seed=1,2", "debug=default", "hydra.sweep.dir=runs/sweeps/seeds")
    assert proc.returncode == 0 and "had no effect" not in proc.stderr
    assert json.loads((_sweep_dir(cli, "seeds") / "sweep_summary.json").read_text())["identical_outputs"] == []

    # the runs root: every run newest first, and runs/latest is the newest run
    proc = cli(str(cli.runs), module="ltx2.gallery")
    assert proc.returncode == 0, proc.stderr
    html = (cli.runs / "index.html").read_text()
    assert html.count('class="card cell') == 4 and 'id="filter"' in html
    assert html.index("001_seed=2") < html.index("000_seed=1") < html.index("001_text.cache=False")
    assert (cli.runs / "latest").resolve() == _sweep_dir(cli, "seeds") / "001_seed=2"
    proc = cli(str(_sweep_dir(cli, "seeds")), "--rows", "nope", module="ltx2.gallery")
    assert proc.returncode == 2 and "gallery.rows='nope': must be one of the swept keys (seed)" in proc.stderr


def test_linear_preview_follows_the_decoder(tiny):
    """The preview map, fitted on one random latent, predicts the decoder's mean colour per latent cell of
    another latent (tiny model): R^2 well above 0, at a tiny fraction of the decode's cost."""
    from ltx2.loading.model_set import ModelSet

    models = ModelSet(name="tiny", checkpoint=str(tiny / "tiny-ltx2.3.safetensors"),
                      gemma_root=str(tiny / "tiny-gemma"), tiny=True)
    decoder = models.video_decoder()
    weights = fit_projection(decoder, seed=0)
    from ltx2.models.video_vae.tiled import decode_video

    latent = mx.random.normal((1, 3, 2, 3, 128), key=mx.random.key(7))
    frames = np.concatenate(list(decode_video(decoder, latent)), axis=0).astype(np.float32)
    target = cell_means(frames, (3, 2, 3))
    predicted = project(np.array(latent[0]), weights).astype(np.float32)
    r2 = 1 - np.sum((predicted - target) ** 2) / np.sum((target - target.mean()) ** 2)
    assert r2 > 0.5, r2

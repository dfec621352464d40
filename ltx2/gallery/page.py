"""The gallery's HTML: a sweep page (grid of the swept keys, one synchronised player, the config diff) and a runs
page (every run, newest first, with a filter box). Self-contained: style and script inline, files linked by
relative paths."""

from __future__ import annotations

import os
from html import escape
from pathlib import Path
from urllib.parse import quote

from ltx2.gallery.assets import CSS, RUNS_SCRIPT, SCRIPT
from ltx2.gallery.collect import Cell, Grid

NUMBERS = (("flicker", "flicker"), ("motion", "motion"), ("sharpness", "sharpness"), ("audio_lufs", "LUFS"))


def _href(path: Path, base: Path) -> str:
    return quote(os.path.relpath(path, base).replace(os.sep, "/"))


def _page(title: str, body: str, script: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n"
            f"<script>{script}</script>\n</body></html>\n")


def _quality(record: dict) -> str:
    quality = record.get("quality") or {}
    if not quality:
        return ""
    bad = "".join(f'<span class="badge bad">{escape(name)}</span>' for name in quality.get("tripped", []))
    nums = "".join(f'<span class="badge">{label} {quality[key]:g}</span>' for key, label in NUMBERS
                   if isinstance(quality.get(key), (int, float)))
    return f'<div class="quality">{bad or "<span class=badge>ok</span>"}{nums}</div>'


def _label(cell: Cell, keys: list[str]) -> str:
    return " ".join(f"{k}={cell.values.get(k, '')}" for k in keys if k)


def cell_html(cell: Cell | None, base: Path, keys: list[str], label: str = "") -> str:
    if cell is None:
        return f'<div class="cell empty"><div class="label">{escape(label)}</div>no job</div>'
    failed = cell.status != "completed"
    seconds = f"{cell.seconds:.1f} s" if cell.seconds is not None else ""
    parts = [f'<div class="label">{escape(_label(cell, keys) or cell.dir.name)}</div>']
    if cell.video is not None:
        parts.append(f'<video class="sync" muted playsinline preload="auto" '
                     f'src="{_href(cell.video, base)}"></video>')
    elif cell.audio is not None:  # an audio-only run (pipeline=t2a)
        parts.append(f'<audio controls preload="metadata" src="{_href(cell.audio, base)}"></audio>')
    status_class = "status-failed" if failed else "status"
    parts.append(f'<div><span class="{status_class}">{escape(cell.status)}</span> '
                 f'<span class="muted">{escape(seconds)}</span> '
                 f'<a href="{_href(cell.dir, base)}/">{escape(cell.dir.name)}</a></div>')
    if cell.record.get("error"):
        parts.append(f'<div class="error">{escape(str(cell.record["error"]))}</div>')
    parts.append(_quality(cell.record))
    if (cell.dir / "progress.webp").is_file():
        parts.append(f'<details><summary>denoising previews</summary>'
                     f'<img alt="denoising progress" src="{_href(cell.dir / "progress.webp", base)}"></details>')
    state = "failed" if failed else "completed"
    return (f'<div class="cell {"failed" if failed else ""}" data-status="{state}" '
            f'data-label="{escape(_label(cell, keys))}">{"".join(parts)}</div>')


def _diff_panel(dirs: list[Path]) -> str:
    from ltx2.diff import _clip, _show, table

    if len(dirs) < 2:
        return ""
    labels, rows, n_keys = table(dirs)
    head = "".join(f"<th>{escape(x)}</th>" for x in ["key", *labels])
    body = "".join("<tr><td>" + escape(key) + "</td>" + "".join(f"<td>{escape(_clip(_show(c), 40))}</td>"
                                                                  for c in cells) + "</tr>" for key, cells in rows)
    return (f'<details open id="diff"><summary>{len(rows)} config keys differ across {len(dirs)} runs '
            f'(<code>python -m ltx2.diff</code>)</summary><table><tr>{head}</tr>{body}</table></details>')


def sweep_page(sweep_dir: Path, cells: list[Cell], grid: Grid, swept: list[str], notes: list[str]) -> str:
    keys = [k for k in (grid.rows_key, grid.cols_key, *grid.tab_keys) if k]
    done = sum(c.status == "completed" for c in cells)
    body = [f"<h1>Sweep {escape(sweep_dir.name)}</h1>",
            f'<div class="muted">{len(cells)} jobs, {done} completed, {len(cells) - done} not; rows: '
            f'{escape(grid.rows_key or "-")}, columns: {escape(grid.cols_key or "-")}'
            + (f", tabs: {escape(', '.join(grid.tab_keys))}" if grid.tab_keys else "") + "</div>"]
    body += [f'<div class="muted">{escape(n)}</div>' for n in notes]
    body.append('<div class="controls"><button id="play" type="button">Play</button>'
                '<input id="scrub" type="range" min="0" max="1000" value="0" aria-label="time">'
                '<span id="time" class="muted">0.00 s</span>'
                '<label class="muted"><input id="loop" type="checkbox" checked> loop</label></div>')
    if len(grid.tabs) > 1:
        body.append('<div class="tabs">' + "".join(
            f'<button type="button" data-tab="tab{i}" aria-selected="{str(i == 0).lower()}">'
            f'{escape(" ".join(f"{k}={v}" for k, v in zip(grid.tab_keys, tab)))}</button>'
            for i, tab in enumerate(grid.tabs)) + "</div>")
    for i, tab in enumerate(grid.tabs):
        heads = "".join(f'<div class="colhead">{escape(f"{grid.cols_key}={c}" if grid.cols_key else "")}</div>'
                        for c in grid.cols)
        cells_html = []
        for row in grid.rows:
            for col in grid.cols:
                label = " ".join(f"{k}={v}" for k, v in ((grid.rows_key, row), (grid.cols_key, col)) if k)
                cells_html.append(cell_html(grid.cell(cells, tab, row, col), sweep_dir, keys, label))
        hidden = " hidden" if i else ""
        body.append(f'<section class="tabpage" id="tab{i}"{hidden}><div class="grid" '
                    f'style="--cols:{len(grid.cols)}">{heads}{"".join(cells_html)}</div></section>')
    for name in ("sweep_grid.png", "sweep_summary.md"):
        if (sweep_dir / name).is_file():
            body.append(f'<div><a href="{quote(name)}">{name}</a></div>')
    body.append(_diff_panel([c.dir for c in cells]))
    return _page(f"ltx2 sweep {sweep_dir.name}", "\n".join(body), SCRIPT)


def runs_page(root: Path, cells: list[Cell]) -> str:
    cards = []
    for cell in cells:
        r = cell.record
        choices = r.get("choices", {})
        facts = [f"pipeline {choices.get('pipeline', '?')}", f"model {choices.get('model', '?')}",
                 f"seed {r.get('seed', '?')}", str(r.get("started") or "")[:19].replace("T", " ")]
        media = (f'<video muted playsinline preload="metadata" src="{_href(cell.video, root)}#t=0.1"></video>'
                 if cell.video is not None else
                 f'<audio controls preload="metadata" src="{_href(cell.audio, root)}"></audio>'
                 if cell.audio is not None else "")
        failed = cell.status != "completed"
        cards.append(f'<div class="card cell {"failed" if failed else ""}" data-status="{escape(cell.status)}">'
                     f'{media}<div class="label">{escape(str(r.get("prompt") or "")[:200])}</div>'
                     f'<div class="muted">{escape(" · ".join(facts))}</div>'
                     f'<div><span class="{"status-failed" if failed else "status"}">{escape(cell.status)}</span> '
                     f'<a href="{_href(cell.dir, root)}/">{escape(os.path.relpath(cell.dir, root))}</a></div>'
                     + (f'<div class="error">{escape(str(r["error"]))}</div>' if r.get("error") else "")
                     + _quality(r) + "</div>")
    body = (f"<h1>Runs in {escape(root.name or str(root))}</h1><div class=\"controls\">"
            f'<input id="filter" type="search" placeholder="filter: prompt, model, seed, status..." '
            f'aria-label="filter" style="flex:1 1 200px;min-width:0"><span class="muted">{len(cells)} runs, '
            f'newest first</span></div><div class="cards">{"".join(cards)}</div>')
    return _page(f"ltx2 runs {root.name}", body, RUNS_SCRIPT)

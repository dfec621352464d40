"""The contact sheet of a sweep: ``sweep_grid.mp4`` (every job's video tiled in the gallery's grid order, each
with its values as a label; no audio track) and ``sweep_grid.png`` (the middle frame of it). Frames are read and
written by ffmpeg through imageio-ffmpeg; a shorter video holds its last frame, a failed job is a dark tile."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ltx2.gallery.collect import Cell, Grid

LABEL_HEIGHT = 14


def _label_strip(text: str, width: int) -> np.ndarray:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, LABEL_HEIGHT), (20, 20, 20))
    ImageDraw.Draw(image).text((2, 1), text, fill=(235, 235, 235))
    return np.asarray(image)


def _fit(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    if frames.shape[1:3] == (height, width):
        return frames
    import cv2

    return np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames])


def write_contact_sheet(sweep_dir: Path, cells: list[Cell], grid: Grid, fps: float | None = None) -> dict | None:
    """Writes sweep_grid.mp4 and sweep_grid.png into ``sweep_dir``; None when no job has a video."""
    from PIL import Image

    from ltx2.io.media import read_video, write_video

    tiles: list[tuple[str, Cell | None]] = []  # (label, cell), rows of len(grid.cols), tab after tab
    for tab in grid.tabs:
        for row in grid.rows:
            for col in grid.cols:
                cell = grid.cell(cells, tab, row, col)
                values = [*zip(grid.tab_keys, tab), (grid.rows_key, row), (grid.cols_key, col)]
                tiles.append((" ".join(f"{k.split('.')[-1]}={v}" for k, v in values if k), cell))
    videos = {id(c): read_video(c.video)[0] for _, c in tiles if c is not None and c.video is not None}
    if not videos:
        return None
    first = next(iter(videos.values()))
    height, width = first.shape[1:3]
    frames = max(v.shape[0] for v in videos.values())
    fps = fps or next(float(c.record.get("request", {}).get("fps", 24.0)) for _, c in tiles if c and id(c) in videos)
    n_cols = len(grid.cols)
    n_rows = (len(tiles) + n_cols - 1) // n_cols
    sheet = np.zeros((frames, n_rows * (height + LABEL_HEIGHT), n_cols * width, 3), np.uint8)
    for i, (label, cell) in enumerate(tiles):
        y, x = (i // n_cols) * (height + LABEL_HEIGHT), (i % n_cols) * width
        failed = cell is not None and cell.status != "completed"
        sheet[:, y:y + LABEL_HEIGHT, x:x + width] = _label_strip(label + (" FAILED" if failed else ""), width)
        if cell is not None and id(cell) in videos:
            video = _fit(videos[id(cell)], height, width)
            video = np.concatenate([video, np.repeat(video[-1:], frames - len(video), axis=0)])
            sheet[:, y + LABEL_HEIGHT:y + LABEL_HEIGHT + height, x:x + width] = video
        elif failed:
            sheet[:, y + LABEL_HEIGHT:y + LABEL_HEIGHT + height, x:x + width] = (60, 0, 0)
    if sheet.shape[1] % 2 or sheet.shape[2] % 2:  # yuv420p needs even sizes
        sheet = np.pad(sheet, [(0, 0), (0, sheet.shape[1] % 2), (0, sheet.shape[2] % 2), (0, 0)])
    info = write_video(sweep_dir / "sweep_grid.mp4", [sheet], fps)
    Image.fromarray(sheet[frames // 2]).save(sweep_dir / "sweep_grid.png")
    return info

"""Checks that a rendered plot is a real picture: its size and that it is not blank."""

from __future__ import annotations

from pathlib import Path


def png_summary(path: str | Path) -> dict:
    """Width, height, and the share of pixels that are not the background colour."""
    import matplotlib.image as mpimg
    import numpy as np

    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"path: {path} is not a PNG file")
    pixels = mpimg.imread(str(path))[..., :3]
    background = np.median(pixels.reshape(-1, 3), axis=0)
    inked = float((np.abs(pixels - background).sum(axis=-1) > 0.05).mean())
    return {
        "width": pixels.shape[1],
        "height": pixels.shape[0],
        "bytes": len(data),
        "inked": inked,
        "colours": int(len(np.unique((pixels * 255).astype(int).reshape(-1, 3), axis=0))),
    }

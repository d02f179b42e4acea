#!/usr/bin/env python3
"""Writes PNGs from real producers (Pillow and pypng, pinned in scripts/install-tools) into a folder.

Usage: scripts/corpus/png-producers.py OUT_DIR [--large]

Without --large: one small file per variant a real producer writes (interlaced, 1/2/4/8/16-bit,
palette with tRNS, grey+alpha, many IDAT chunks, text/zTXt/iTXt/eXIf chunks, APNG), for the corpus
test in app/document-validate. With --large: a few document-sized images (a 300 dpi A4 scan, a
photo-like RGB image, a screenshot) for the validation benchmark. Deterministic: the same files for
the same producer versions.
"""

import io
import random
import sys
from pathlib import Path

import png as pypng
from PIL import Image, ImageDraw, PngImagePlugin


def scene(mode, size, seed=1):
    """A page-like picture: flat background, text-like strokes, a gradient and some noise."""
    rnd = random.Random(seed)
    w, h = size
    im = Image.new("RGB", size, (250, 250, 246))
    d = ImageDraw.Draw(im)
    for y in range(h // 12, h - h // 12, max(h // 40, 3)):
        x = w // 10
        while x < w * 9 // 10:
            word = rnd.randint(w // 60 + 2, w // 12 + 3)
            d.rectangle([x, y, min(x + word, w - 1), y + max(h // 120, 1)], fill=(20, 20, 30))
            x += word + max(w // 80, 2)
    for x in range(w // 2):
        d.line([x, h * 3 // 4, x, h - 1], fill=(x * 255 // max(w // 2, 1), 90, 160))
    px = im.load()
    for _ in range(w * h // 50):
        x, y = rnd.randrange(w), rnd.randrange(h)
        px[x, y] = (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256))
    return im.convert(mode) if mode != "RGB" else im


def photo(size, seed=2):
    """Smooth colour fields plus sensor-like noise: compresses like a photograph, not a page."""
    rnd = random.Random(seed)
    w, h = size
    base = Image.linear_gradient("L").resize(size)
    noise = Image.effect_noise(size, 40)
    r = Image.blend(base, noise, 0.4)
    g = Image.blend(base.rotate(90).resize(size), noise, 0.3)
    b = Image.effect_noise(size, 25 + rnd.randrange(10))
    return Image.merge("RGB", (r, g, b))


def pillow(path, im, **opts):
    im.save(path, "PNG", **opts)


def pypng_write(path, rows, width, height, **opts):
    with open(path, "wb") as f:
        pypng.Writer(width, height, **opts).write(f, rows)


def small(out):
    size = (67, 45)  # odd sizes exercise partial bytes and the short Adam7 passes
    rgb = scene("RGB", size)
    pillow(out / "pillow-rgb.png", rgb)
    pillow(out / "pillow-rgba.png", scene("RGBA", size))
    pillow(out / "pillow-grey.png", scene("L", size))
    pillow(out / "pillow-grey-alpha.png", scene("LA", size))
    pillow(out / "pillow-1bit.png", scene("1", size))
    pillow(out / "pillow-grey16.png", scene("L", size).convert("I;16"))
    pal = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=200)
    pillow(out / "pillow-palette.png", pal)
    pillow(out / "pillow-palette-trns.png", pal, transparency=3)
    alpha_pal = scene("RGBA", size).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pillow(out / "pillow-palette-alpha.png", alpha_pal)
    for bits in (1, 2, 4):
        few = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=1 << bits)
        pillow(out / f"pillow-palette-{bits}bit.png", few, bits=bits)
    for level in (0, 1, 9):
        pillow(out / f"pillow-level{level}.png", rgb, compress_level=level)
    pillow(out / "pillow-optimize.png", rgb, optimize=True)
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", "Invoice 2024-001")
    info.add_text("Comment", "compressed " * 40, zip=True)
    info.add_itxt("Description", "Rechnung für März", lang="de", tkey="Beschreibung")
    info.add_itxt("Software", "zipped iTXt " * 30, zip=True)
    exif = Image.Exif()
    exif[0x0131] = "corpus"  # Software
    pillow(out / "pillow-text-exif.png", rgb, pnginfo=info, exif=exif, dpi=(300, 300))
    frames = [scene("RGBA", size, seed) for seed in range(3)]
    pillow(out / "pillow-apng.png", frames[0], save_all=True, append_images=frames[1:],
           duration=100, loop=0)
    pillow(out / "pillow-apng-default-hidden.png", frames[0], save_all=True,
           append_images=frames[1:], default_image=True, duration=[50, 80, 120])
    pillow(out / "pillow-many-idat.png", scene("RGB", (400, 300)).convert("RGB"),
           compress_level=0)  # uncompressed: Pillow writes one IDAT per 64 KiB

    w, h = size
    grey = scene("L", size)
    g8 = [list(grey.crop((0, y, w, y + 1)).getdata()) for y in range(h)]
    for depth in (1, 2, 4, 8, 16):
        rows = [[v * ((1 << depth) - 1) // 255 for v in row] for row in g8]
        for interlace in (False, True):
            tag = "-adam7" if interlace else ""
            pypng_write(out / f"pypng-grey{depth}{tag}.png", rows, w, h, greyscale=True,
                        bitdepth=depth, interlace=interlace)
    rgba = scene("RGBA", size)
    flat = [[c for px in rgba.crop((0, y, w, y + 1)).getdata() for c in px] for y in range(h)]
    for interlace in (False, True):
        tag = "-adam7" if interlace else ""
        pypng_write(out / f"pypng-rgba8{tag}.png", flat, w, h, greyscale=False, alpha=True,
                    bitdepth=8, interlace=interlace)
        rows16 = [[c * 257 for c in row] for row in flat]
        pypng_write(out / f"pypng-rgba16{tag}.png", rows16, w, h, greyscale=False, alpha=True,
                    bitdepth=16, interlace=interlace)
        rgb16 = [[c * 257 for i, c in enumerate(row) if i % 4 != 3] for row in flat]
        pypng_write(out / f"pypng-rgb16{tag}.png", rgb16, w, h, greyscale=False, bitdepth=16,
                    interlace=interlace)
        ga = [[c for v in row for c in (v, 255 - v)] for row in g8]
        pypng_write(out / f"pypng-grey-alpha8{tag}.png", ga, w, h, greyscale=True, alpha=True,
                    bitdepth=8, interlace=interlace)
    palette = [(i, 255 - i, (i * 7) % 256, 255 if i % 3 else 0) for i in range(16)]
    prow = [[(x + y) % 16 for x in range(w)] for y in range(h)]
    for interlace in (False, True):
        tag = "-adam7" if interlace else ""
        pypng_write(out / f"pypng-palette4-trns{tag}.png", prow, w, h, palette=palette,
                    bitdepth=4, interlace=interlace)
    pypng_write(out / "pypng-rgb8-chunked.png", [row[: w * 3] for row in rgb16], w, h,
                greyscale=False, bitdepth=16, chunk_limit=64)  # an IDAT every 64 bytes
    pypng_write(out / "pypng-1x1.png", [[0]], 1, 1, greyscale=True, bitdepth=1)
    pypng_write(out / "pypng-1x1-adam7.png", [[5, 6, 7]], 1, 1, greyscale=False, bitdepth=8,
                interlace=True)
    pypng_write(out / "pypng-tall-adam7.png", [[y % 256] for y in range(9)], 1, 9,
                greyscale=True, bitdepth=8, interlace=True)


def large(out):
    pillow(out / "scan-a4-300dpi-grey.png", scene("L", (2480, 3508), 7))
    pillow(out / "scan-a4-150dpi-rgb.png", scene("RGB", (1240, 1754), 8))
    pillow(out / "photo-1600x1200-rgb.png", photo((1600, 1200)))
    screenshot = scene("RGB", (1920, 1080), 9).convert("P", palette=Image.Palette.ADAPTIVE)
    pillow(out / "screenshot-1920x1080-palette.png", screenshot, optimize=True)


def main(argv):
    if len(argv) not in (2, 3) or (len(argv) == 3 and argv[2] != "--large"):
        sys.exit(f"usage: {argv[0]} OUT_DIR [--large]")
    out = Path(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    (large if len(argv) == 3 else small)(out)


if __name__ == "__main__":
    main(sys.argv)

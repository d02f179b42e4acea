#!/usr/bin/env python3
"""Writes a corpus of PDFs from real producers into OUT_DIR, each judged by `qpdf --check`.

Usage: scripts/corpus/pdf.py OUT_DIR

Producers that install in seconds run here: reportlab, matplotlib, fpdf2, img2pdf, PyMuPDF,
pypdf (incremental saves), pikepdf, and the qpdf CLI, which rewrites every base document with
object streams, linearization, encryption (RC4-128, AES-128, AES-256, empty user password),
PDF 2.0 and uncompressed streams. Documents from heavy producers are committed fixtures
(app/document-validate/tests/corpus/fixtures/pdf/); they are rewritten here too. A few bytes
(a UTF-8 BOM, junk) before `%PDF-` are added to some, as readers accept a header anywhere in
the first 1024 bytes.

Writes OUT_DIR/manifest.tsv: file, producer, qpdf's exit code (0 sound, 2 errors, 3 warnings)
and its first warning or error line; the corpus test decides from those which documents the
validator must accept.
"""

import io
import os
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "app/document-validate/tests/corpus/fixtures/pdf"


def fail(msg):
    sys.stderr.write(f"scripts/corpus/pdf.py: {msg}\n")
    sys.exit(1)


def png_bytes(mode="RGB", size=(64, 48)):
    from PIL import Image

    img = Image.new(mode, size)
    px = img.load()
    for y in range(size[1]):
        for x in range(size[0]):
            v = (x * 7 + y * 13) % 256
            px[x, y] = v if mode in ("L", "1") else (v, (x * 3) % 256, (y * 5) % 256)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes():
    from PIL import Image

    buf = io.BytesIO()
    Image.open(io.BytesIO(png_bytes())).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def reportlab_docs():
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    for compress in (1, 0):
        buf = io.BytesIO()
        c = canvas.Canvas(buf, pagesize=A4, pageCompression=compress)
        c.setTitle("Invoice 2024-0042")
        c.drawString(72, 760, "Invoice 2024-0042: 3 x widget, total 42.00 EUR")
        c.drawImage(ImageReader(io.BytesIO(png_bytes())), 72, 600, 128, 96)
        c.drawImage(ImageReader(io.BytesIO(jpeg_bytes())), 220, 600, 128, 96)
        c.showPage()
        c.drawString(72, 760, "Page two")
        c.save()
        yield f"reportlab-compress{compress}", buf.getvalue()


def matplotlib_docs():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1, 2, 3], [1, 4, 2, 3], label="receipts")
    ax.imshow([[0, 1], [2, 3]], extent=(0, 1, 0, 1))
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf")
    plt.close(fig)
    yield "matplotlib", buf.getvalue()


def fpdf2_docs():
    from fpdf import FPDF

    for compress in (True, False):
        pdf = FPDF()
        pdf.compress = compress
        pdf.add_page()
        pdf.set_font("helvetica", size=12)
        pdf.cell(text="Receipt no. 7 - paid")
        pdf.image(io.BytesIO(png_bytes()), x=10, y=30, w=40)
        pdf.image(io.BytesIO(jpeg_bytes()), x=60, y=30, w=40)
        pdf.add_page()
        pdf.cell(text="Second page")
        yield f"fpdf2-compress{int(compress)}", bytes(pdf.output())


def img2pdf_docs():
    import img2pdf

    yield "img2pdf-png", img2pdf.convert(png_bytes())
    yield "img2pdf-grey-png", img2pdf.convert(png_bytes("L"))
    yield "img2pdf-jpeg", img2pdf.convert(jpeg_bytes())


def pymupdf_docs(base):
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "Scan 0001 (PyMuPDF)")
    page.insert_image(pymupdf.Rect(72, 100, 200, 196), stream=png_bytes())
    yield "pymupdf", doc.tobytes()
    yield "pymupdf-deflate-garbage", doc.tobytes(deflate=True, garbage=3)
    yield "pymupdf-objstms", doc.tobytes(deflate=True, garbage=4, use_objstms=1)
    # Incremental save onto a file written by another producer.
    doc = pymupdf.open(stream=base, filetype="pdf")
    doc[0].insert_text((72, 300), "Approved")
    out = io.BytesIO()
    doc.save(out, incremental=False, deflate=True)
    yield "pymupdf-rewrite", out.getvalue()


def pypdf_docs(base):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(base)))
    writer.add_metadata({"/Title": "rewritten by pypdf"})
    for page in writer.pages:
        page.compress_content_streams()
    buf = io.BytesIO()
    writer.write(buf)
    yield "pypdf-rewrite", buf.getvalue()
    # Incremental updates: two saves appended, each with its own xref, /Prev and %%EOF.
    data = base
    for step in (1, 2):
        writer = PdfWriter(io.BytesIO(data), incremental=True)
        writer.add_metadata({"/Title": f"update {step}"})
        buf = io.BytesIO()
        writer.write(buf)
        data = buf.getvalue()
        yield f"pypdf-incremental{step}", data


def pikepdf_docs(base):
    import pikepdf

    for mode in ("generate", "disable"):
        with pikepdf.open(io.BytesIO(base)) as pdf:
            pdf.docinfo["/Title"] = "pikepdf"
            buf = io.BytesIO()
            pdf.save(buf, object_stream_mode=getattr(pikepdf.ObjectStreamMode, mode))
            yield f"pikepdf-objstm-{mode}", buf.getvalue()
    with pikepdf.open(io.BytesIO(base)) as pdf:
        buf = io.BytesIO()
        pdf.save(buf, encryption=pikepdf.Encryption(owner="owner", user="", R=6))
        yield "pikepdf-aes256", buf.getvalue()


QPDF_REWRITES = {
    "objstm": ["--object-streams=generate"],
    "linearized": ["--linearize"],
    "linearized-objstm": ["--linearize", "--object-streams=generate"],
    "rc4-128": ["--allow-weak-crypto", "--encrypt", "", "owner", "128", "--use-aes=n", "--"],
    "aes-128": ["--allow-weak-crypto", "--encrypt", "", "owner", "128", "--use-aes=y", "--"],
    "aes-256": ["--encrypt", "", "owner", "256", "--"],
    "aes-256-objstm": ["--object-streams=generate", "--encrypt", "", "owner", "256", "--"],
    "pdf-2.0": ["--force-version=2.0"],
    "uncompressed": ["--stream-data=uncompress", "--compress-streams=n"],
    "qdf": ["--qdf"],
}


def qpdf_rewrites(name, data, tmp):
    src = tmp / f"{name}.in.pdf"
    src.write_bytes(data)
    for suffix, args in QPDF_REWRITES.items():
        dst = tmp / f"{name}.{suffix}.out.pdf"
        run = subprocess.run(["qpdf", *args, str(src), str(dst)], capture_output=True)
        # qpdf exits 3 when it wrote the file with warnings; the check below judges the output.
        if run.returncode not in (0, 3) or not dst.exists():
            fail(f"qpdf {' '.join(args)} {name}: {run.stderr.decode(errors='replace')}")
        yield f"{name}+qpdf-{suffix}", dst.read_bytes()


def qpdf_check(path):
    """qpdf's exit code (0 sound, 2 errors, 3 warnings) and its first warning or error line."""
    run = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True, errors="replace")
    lines = [l for l in (run.stderr + run.stdout).splitlines() if "WARNING" in l or "ERROR" in l or "rror" in l]
    return run.returncode, (lines[0] if lines else "").replace("\t", " ")


def main():
    if len(sys.argv) != 2:
        fail("usage: scripts/corpus/pdf.py OUT_DIR")
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "tmp"
    tmp.mkdir(exist_ok=True)
    docs = []
    docs += reportlab_docs()
    docs += matplotlib_docs()
    docs += fpdf2_docs()
    docs += img2pdf_docs()
    base = docs[0][1]
    docs += pymupdf_docs(base)
    docs += pypdf_docs(base)
    docs += pikepdf_docs(base)
    docs += [(f"fixture-{p.stem}", p.read_bytes()) for p in sorted(FIXTURES.glob("*.pdf"))]
    rewritten = []
    for name, data in docs:
        if "+" not in name and "aes" not in name:
            rewritten += qpdf_rewrites(name, data, tmp)
    docs += rewritten
    # Bytes before the header: a UTF-8 BOM, a line of junk, and 1000 bytes (the most readers allow).
    for prefix_name, prefix in (("bom", b"\xef\xbb\xbf"), ("junk", b"garbage\r\n"), ("pad1000", b" " * 1000)):
        for name, data in list(docs[:3]) + [d for d in docs if d[0].endswith("qpdf-objstm")][:2]:
            docs.append((f"{name}+{prefix_name}", prefix + data))
    with open(out / "manifest.tsv", "w") as manifest:
        for name, data in docs:
            path = out / f"{name}.pdf"
            path.write_bytes(data)
            producer = name.split("+")[0]
            code, message = qpdf_check(path)
            manifest.write(f"{path.name}\t{producer}\t{code}\t{message}\n")
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()


if __name__ == "__main__":
    main()

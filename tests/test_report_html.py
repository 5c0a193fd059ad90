"""Snakemake's HTML report of the tiny run, rendered in headless Chromium: every figure loads, a screenshot is saved."""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# with pytest-xdist these tests share one worker, the one that runs the tiny DAG (conftest.tiny_run)
pytestmark = pytest.mark.xdist_group("tiny")

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

#: figures a reader of the report must find (by file name), with their category
EXPECTED = {
    "prepared_examples.png": "Data",
    "samples_grid.png": "GAN samples",
    "feature_projection.png": "GAN samples",
    "loss_curves.png": "GAN training",
    "fid_curves.png": "GAN training",
    "fid_curve.png": "GAN training",
    "metrics_vs_fraction.png": "Classifier",
    "confusion.png": "Classifier",
    "delta_vs_n_real.png": "Classifier",
    "primary_roc_pr.png": "Summary",
    "forest_auc.png": "Summary",
}


def chromium() -> str:
    """Debian's chromium, installed on first use (CI machines are Debian with apt, as root)."""
    exe = shutil.which("chromium")
    if exe is None:
        proc = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, text=True,
                              env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})  # fmt: skip
        exe = shutil.which("chromium")
        if exe is None:
            pytest.fail(f"headless Chromium is needed for the report test and could not be installed: "
                        f"apt-get install chromium -> {proc.returncode}: {proc.stderr[-1500:]}")  # fmt: skip
    return exe


def run_chromium(*args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    proc = subprocess.run([chromium(), *CHROMIUM_FLAGS, *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def report_results(report: Path) -> dict:
    """The ``results`` object Snakemake embeds in its report: path -> {name, caption, data_uri, category?...}."""
    text = report.read_text()
    for m in re.finditer(r"var results = (?=\{)", text):  # the bundled JavaScript has its own `var results`
        obj, _ = json.JSONDecoder().raw_decode(text[m.end() :])
        return obj
    raise AssertionError(f"{report}: no embedded results object")


@pytest.fixture(scope="module")
def html_report(tiny_run):
    work, _ = tiny_run
    out = work / "results" / "report.html"
    cmd = [
        sys.executable, "-m", "snakemake", "all", "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
        "--configfile", str(work / "tiny.yaml"), "--report", str(out),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-5000:]
    assert out.is_file() and out.stat().st_size > 100_000
    return out


@pytest.mark.slow
def test_report_holds_every_figure_with_a_caption(html_report):
    results = report_results(html_report)
    names = {r["name"] for r in results.values()}
    missing = [n for n in EXPECTED if n not in names]
    assert not missing, f"not in the report: {missing}"
    for path, r in results.items():
        assert r["caption"].strip(), f"{path} has no caption"
        assert r["data_uri"].startswith("data:"), path
    # the verdict in words is in the report, and the front page links to it
    summary = [r for r in results.values() if r["name"] == "summary.html"]
    assert len(summary) == 1 and summary[0]["mime_type"] == "text/html"
    assert "Can synthetic images substitute" in base64.b64decode(summary[0]["data_uri"].split("base64,", 1)[1]).decode()
    assert "showResultInfo('results/report/summary.html')" in html_report.read_text()
    # the Markdown tables stay beside the HTML report
    for md in ("gan_scores.md", "classifier_summary.md", "paired_differences.md", "summary.md"):
        assert (html_report.parent / "report" / md).is_file()


@pytest.mark.slow
def test_every_figure_loads_in_headless_chromium(html_report, tmp_path):
    """Each embedded image is decoded by Chromium itself (naturalWidth > 0), then the report is screenshotted."""
    images = {p: r for p, r in report_results(html_report).items() if r["mime_type"].startswith("image/")}
    assert len(images) >= len(EXPECTED)
    for path, r in images.items():  # the payload is a real PNG
        payload = base64.b64decode(r["data_uri"].split("base64,", 1)[1])
        assert payload[:8] == b"\x89PNG\r\n\x1a\n", path
    tags = "\n".join(
        f'<img data-path="{html.escape(p)}" src="{html.escape(r["data_uri"])}">' for p, r in images.items()
    )
    harness = tmp_path / "figures.html"
    harness.write_text(f"""<!doctype html><html><head><title>pending</title></head><body>{tags}
<script>
window.addEventListener("load", () => {{
  const imgs = [...document.images];
  const bad = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.dataset.path);
  document.title = "loaded " + (imgs.length - bad.length) + "/" + imgs.length + " failed:" + bad.join("|");
}});
</script></body></html>""")
    dom = run_chromium("--virtual-time-budget=20000", "--dump-dom", harness.as_uri()).stdout
    title = re.search(r"<title>(.*?)</title>", dom, flags=re.S).group(1)
    assert title == f"loaded {len(images)}/{len(images)} failed:", title

    # the report page itself renders (its JavaScript builds the navigation) and is screenshotted
    rendered = run_chromium("--virtual-time-budget=20000", "--dump-dom", html_report.as_uri()).stdout
    for category in sorted(set(EXPECTED.values())):
        assert category in rendered, f"category {category!r} not rendered"
    shot = html_report.parent / "report" / "report_screenshot.png"
    run_chromium("--virtual-time-budget=20000", "--window-size=1400,1000", f"--screenshot={shot}",
                 html_report.as_uri())  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


@pytest.mark.slow
def test_summary_page_leads_with_visible_figures(html_report, tmp_path):
    """summary.html's two leading figures (primary ROC / PR, forest plot) decode in Chromium and take up width."""
    summary = next(r for r in report_results(html_report).values() if r["name"] == "summary.html")
    page = base64.b64decode(summary["data_uri"].split("base64,", 1)[1]).decode()
    assert page.count("<img") == 2 and page.count('src="data:image/png;base64,') == 2
    probe = """<script>
window.addEventListener("load", () => {
  document.title = [...document.images].map(i =>
    (i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().width > 0 ? "ok" : "bad") + ":" + (i.alt.length > 0)
  ).join(",");
});
</script>"""
    harness = tmp_path / "summary.html"
    harness.write_text(page.replace("</body>", probe + "</body>"))
    dom = run_chromium("--virtual-time-budget=20000", "--window-size=400,800", "--dump-dom", harness.as_uri()).stdout
    title = re.search(r"<title>(.*?)</title>", dom, flags=re.S).group(1)
    assert title == "ok:true,ok:true", title


def test_sample_grid_title_sits_just_above_the_first_row(tmp_path):
    """An 8-class grid with real rows (16 rows, 19 in high) has no band between its title and its first row: with
    matplotlib's default top (12 % of the height) the band was ~2 in (230 px) on blood-cell grids."""
    import numpy as np
    from PIL import Image

    from ganaug.report.figures import plot_sample_grid

    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (64, 16, 16, 3), dtype=np.uint8), np.repeat(np.arange(8), 8)
    np.savez(tmp_path / "s.npz", images=images, labels=labels, classes=np.array([f"c{k}" for k in range(8)]))
    np.savez(tmp_path / "r.npz", images=images, labels=labels)
    plot_sample_grid(
        tmp_path / "s.npz", tmp_path / "grid.png", title="cell: generated vs real", real_npz=tmp_path / "r.npz"
    )
    dark = (np.asarray(Image.open(tmp_path / "grid.png").convert("L")) < 128).sum(axis=1)  # dark pixels per row
    title_rows = np.flatnonzero(dark > 0)
    first_frame = np.flatnonzero(dark > 0.5 * dark.max())[0]  # the top edge of the first row of images
    title_bottom = title_rows[title_rows < first_frame].max()
    assert first_frame - title_bottom < 0.5 * 120, (title_bottom, first_frame)  # under half an inch at 120 dpi

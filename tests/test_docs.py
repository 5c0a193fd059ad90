"""The README and docs/: every relative link resolves, every doc is linked from the README,
and the README's first screen shows the install, run and test commands .ci/run uses."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [REPO / "README.md", *DOCS, REPO / "benchmarks" / "README.md"]


def _anchors(md: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    out, seen, fence = set(), {}, False
    for line in md.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fence = not fence
        if fence or not line.startswith("#"):
            continue
        slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_relative_links_resolve():
    bad = []
    for md in PAGES:
        text = re.sub(r"```.*?```", "", md.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, frag = target.partition("#")
            dest = (md.parent / path).resolve() if path else md
            if not dest.exists():
                bad.append(f"{md.relative_to(REPO)}: {target} (no such file)")
            elif frag and (dest.suffix != ".md" or frag not in _anchors(dest)):
                bad.append(f"{md.relative_to(REPO)}: {target} (no such heading)")
    assert not bad, "broken links:\n" + "\n".join(bad)


def test_every_doc_is_linked_from_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert DOCS
    assert not [d.name for d in DOCS if f"(docs/{d.name})" not in readme]


def test_readme_first_screen_has_install_run_and_test():
    head = "\n".join((REPO / "README.md").read_text(encoding="utf-8").splitlines()[:50])
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    install = "python3 -m pip install -e '.[slurm]'"
    test = "python3 -m pytest -n 2 --dist loadgroup"
    assert install in head and install in ci
    assert f"\n{test}\n" in head and f"\n{test}\n" in ci
    # the target before --resources: Snakemake 9's --resources takes every word after it
    assert "snakemake all --cores 8 --resources gpu=1" in head

"""The repository stands alone: its documents link only to files inside it."""

import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")), REPO_ROOT / "bench" / "RESULTS.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_relative_link_points_into_the_repository():
    for document in DOCUMENTS:
        for target in LINK.findall(document.read_text()):
            if re.match(r"[a-z]+:", target):  # https:, data: …
                continue
            path = (document.parent / target.split("#")[0]).resolve()
            assert path.is_relative_to(REPO_ROOT) and path.exists(), f"{document.name}: {target}"


def test_the_design_is_in_the_repository_not_in_the_brief():
    readme = (REPO_ROOT / "README.md").read_text()
    assert "docs/design.md" in readme
    for document in DOCUMENTS:
        assert "DESIGN.md" not in document.read_text(), document.name

"""The documentation's code and links, checked: README.md and every page under docs/.

The convention: every fenced code block is run here or marked as not run. A block is marked by the HTML comment
`<!-- not run: why -->` on the line just before its opening fence (invisible on GitHub and in the site). Unmarked
`python` blocks are run, in page order in one namespace per page, in a temporary working folder, on every
backend. Blocks of any other language must be marked, except `text` blocks, which are listings and output, not
code. Links and images are backend-independent and checked once, with TensorFlow; so is the tutorial notebook,
which would cost three times its minute for the same backend-independent Python around one model call.
"""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
MARKER = re.compile(r"^\s*<!-- not run: \S.*-->\s*$")
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([^\s`{]*)")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMG_SRC = re.compile(r"<img\s[^>]*src=\"([^\"]+)\"")
ONCE = pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
                          reason="backend-independent documentation check: runs with KERAS_BACKEND=tensorflow")


def code_blocks(path):
    """[(line, language, code, marked)] of the fenced blocks in a markdown file (line numbers from 1)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence, language = opening.groups()
        marked = i > 0 and bool(MARKER.match(lines[i - 1]))
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        if end == len(lines):
            raise AssertionError(f"{path.relative_to(ROOT)}:{i + 1}: a code fence that never closes")
        body = [line[len(indent):] if line.startswith(indent) else line for line in lines[i + 1:end]]
        blocks.append((i + 1, language.lower(), "\n".join(body) + "\n", marked))
        i = end + 1
    return blocks


def runnable(path):
    return [(line, code) for line, language, code, marked in code_blocks(path) if language == "python" and not marked]


def test_parser_finds_blocks_and_markers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("Text\n\n```python\nx = 1\n```\n\n<!-- not run: slow -->\n```bash\nsleep 99\n```\n\n"
                    "- item\n\n  ```text\n  listing\n  ```\n", encoding="utf-8")
    assert code_blocks(page) == [(3, "python", "x = 1\n", False), (8, "bash", "sleep 99\n", True),
                                 (14, "text", "listing\n", False)]
    assert runnable(page) == [(3, "x = 1\n")]


def test_every_block_is_run_or_marked():
    unmarked = [f"{page.relative_to(ROOT)}:{line} ({language or 'no language'})"
                for page in PAGES for line, language, _, marked in code_blocks(page)
                if not marked and language not in ("python", "text")]
    assert not unmarked, ("code blocks neither run by this test (python) nor marked `<!-- not run: why -->`: "
                          + ", ".join(unmarked))
    assert sum(len(runnable(page)) for page in PAGES) >= 3, "the docs should keep some code that is run"


@pytest.mark.parametrize("page", [p for p in PAGES if runnable(p)], ids=lambda p: str(p.relative_to(ROOT)))
@pytest.mark.slow
def test_python_blocks_run(page, tmp_path, monkeypatch):
    """A page's python blocks, run in order in one namespace; a failure names the page and the block's line."""
    monkeypatch.chdir(tmp_path)
    for folder in ("runs", "study"):  # what the pages' earlier, not-run `vms-zoo generate --output` commands make
        (tmp_path / folder).mkdir()
    namespace = {"__name__": "__docs__"}
    for line, code in runnable(page):
        try:
            exec(compile(code, f"{page.relative_to(ROOT)}:{line}", "exec"), namespace)
        except Exception as error:
            raise AssertionError(f"{page.relative_to(ROOT)}:{line}: the python block failed: {error!r}") from error
    assert set(namespace) - {"__name__", "__builtins__"}, f"{page.relative_to(ROOT)}: its blocks defined nothing"


def link_targets(path):
    """[(line, target)] of the relative links and images of a markdown file, outside code blocks."""
    text = path.read_text(encoding="utf-8")
    spans = {line for line_no, _, code, _ in code_blocks(path) for line in range(line_no, line_no + code.count("\n") + 2)}
    targets = []
    for number, line in enumerate(text.splitlines(), 1):
        if number in spans:
            continue
        line = re.sub(r"`[^`]*`", "", line)  # inline code is not a link
        for target in LINK.findall(line) + IMG_SRC.findall(line):
            if not re.match(r"^(?:[a-z][a-z0-9+.-]*:|#)", target):
                targets.append((number, target.split("#")[0]))
    return targets


def test_link_parser(tmp_path):
    page = tmp_path / "p.md"
    page.write_text('[a](x.md#part) ![b](img/y.png "t") [c](https://e.org) [d](#top) `[e](no.md)`\n'
                    '<img src="z.png" width="3">\n```text\n[f](nope.md)\n```\n', encoding="utf-8")
    assert link_targets(page) == [(1, "x.md"), (1, "img/y.png"), (2, "z.png")]


@ONCE
def test_relative_links_and_images_exist():
    missing = [f"{page.relative_to(ROOT)}:{line} -> {target}" for page in PAGES
               for line, target in link_targets(page) if not (page.parent / target).exists()]
    assert not missing, "links to files that do not exist: " + ", ".join(missing)


@ONCE
@pytest.mark.slow
def test_tutorial_notebook_runs(tmp_path):
    """docs/tutorial.ipynb executed top to bottom; its own cells assert what it shows (shapes, ranges, the
    simulated experiment's ground truth recovered), so a wrong result fails here too."""
    nbformat = pytest.importorskip("nbformat", reason="the docs extra: pip install -e '.[docs]'")
    nbclient = pytest.importorskip("nbclient", reason="the docs extra: pip install -e '.[docs]'")
    notebook = nbformat.read(ROOT / "docs" / "tutorial.ipynb", as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), \
        "commit the tutorial without outputs"
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    os.environ["PYTHONPATH"], saved = pythonpath, os.environ.get("PYTHONPATH")
    try:
        client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                         resources={"metadata": {"path": str(tmp_path)}})
        client.execute()
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    errors = [output for cell in notebook.cells for output in cell.get("outputs", []) if output.output_type == "error"]
    assert not errors
    assert (tmp_path / "tutorial_out" / "pairs.png").is_file()

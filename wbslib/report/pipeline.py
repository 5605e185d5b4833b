"""`wbs run`: execute the notebooks a params file lists, in order, render reports, write the index.

Each notebook runs with papermill (kernel `python3`, cwd = project root, every top-level params
key injected) into runs/<run>/<stem>.ipynb; it is rendered to reports/<run>/<stem>.html (clinician
version, no code) and optionally <stem>-code.html, each framed by the run (banner with cohort and
reader kind, previous/next links by notebook title). A failing notebook stops the run: its error is
printed, the partial notebook is rendered, the index says which notebook failed, and
`NotebookFailedError` is raised.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from wbslib.core.errors import KernelSpecError, NotebookFailedError, ParamsError
from wbslib.core.params import (
    load_params,
    project_root,
    report_dir,
    resolve_path,
    run_dir,
)
from wbslib.core.repro import run_metadata, write_run_metadata
from wbslib.report.html import network_references, render_notebook
from wbslib.report.index import write_index
from wbslib.report.page import PageContext, banner, cohort_kind, notebook_title, now_utc, path_prefixes, reader_kind

KERNEL = "python3"


class _KnownParameters(logging.Filter):
    """Drop papermill's 'Passed unknown parameter' warnings: by design every notebook receives every
    top-level params key (papermill `-f`), and reads only its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Passed unknown parameter")


logging.getLogger("papermill").addFilter(_KnownParameters())


def select_notebooks(params: dict, only: list[str] | None, params_path: str | os.PathLike) -> list[str]:
    """The notebook stems to run: `params['notebooks']`, kept in order, filtered by `only` prefixes.

    A prefix ('01') matches a stem starting with it ('01-audit-cohort'); `only=None` runs every
    notebook. An empty `only` (e.g. `--only ",,"`), an empty prefix or a prefix matching nothing is a
    named error, so a typo never runs the whole pipeline or an empty one.
    """
    stems = params.get("notebooks")
    if not isinstance(stems, list) or not stems or not all(isinstance(s, str) and s for s in stems):
        raise ParamsError(
            f"Params file {params_path} needs 'notebooks': a non-empty list of notebook "
            "names such as [00-simulate-cohort, 01-audit-cohort]."
        )
    if only is None:
        return stems
    if not only or not all(isinstance(p, str) and p.strip() for p in only):
        raise ParamsError(
            f"--only {','.join(map(str, only))!r} names no notebook; pass number prefixes such as 01,03, "
            "or leave --only out to run every notebook listed in the params file."
        )
    for prefix in only:
        if not any(s.startswith(prefix) for s in stems):
            raise ParamsError(
                f"--only {prefix} matches none of the notebooks {stems} listed in {params_path}; "
                "pass number prefixes such as 01,03."
            )
    return [s for s in stems if any(s.startswith(p) for p in only)]


def check_kernel() -> None:
    """Make sure the `python3` kernelspec runs this environment's Python (so it can import wbslib)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel as exc:
        raise KernelSpecError(
            f"No Jupyter kernel named '{KERNEL}' is installed; run "
            f"`{sys.executable} -m ipykernel install --sys-prefix`."
        ) from exc
    exe = spec.argv[0] if spec.argv else ""
    version = sys.version_info
    generic = {"python", f"python{version[0]}", f"python{version[0]}.{version[1]}"}
    if exe not in generic and Path(exe).resolve() != Path(sys.executable).resolve():
        raise KernelSpecError(
            f"The '{KERNEL}' kernel in {spec.resource_dir} runs {exe}, not this "
            f"environment's {sys.executable}; run `{sys.executable} -m ipykernel install "
            "--sys-prefix`."
        )


def _execute(src: Path, out: Path, params: dict, root: Path) -> None:
    """Run one notebook with papermill; the output notebook is written even when a cell fails."""
    import papermill

    papermill.execute_notebook(
        str(src), str(out), parameters=params, cwd=str(root), kernel_name=KERNEL, progress_bar=False, log_output=False
    )


def _render(entry: dict, nb_out: Path, reports: Path, code: bool, context: PageContext) -> None:
    """Render the executed (or partial) notebook; record the HTML paths in the entry."""
    if not nb_out.exists():
        return
    entry["html"] = render_notebook(nb_out, reports / f"{entry['stem']}.html", context=context)
    if code:
        entry["code_html"] = render_notebook(
            nb_out, reports / f"{entry['stem']}-code.html", include_code=True, context=context
        )
    for html_path in (entry.get("html"), entry.get("code_html")):
        if html_path and (refs := network_references(Path(html_path).read_text(encoding="utf-8"))):
            print(
                f"[wbs run] warning: {html_path} refers to the network ({len(refs)} places, e.g. "
                f"{refs[0]!r}); it will not open fully offline.",
                file=sys.stderr,
            )


def _title(nb_dir: Path, stem: str) -> str:
    """A notebook's title (its first '# ' heading), else its stem."""
    import nbformat

    path = nb_dir / f"{stem}.ipynb"
    return notebook_title(nbformat.read(str(path), as_version=4), stem) if path.exists() else stem


def _context(params: dict, root: Path, titles: dict[str, str], stem: str) -> PageContext:
    """How notebook `stem`'s report is framed: banner, run name, neighbours in the params' order."""
    stems = list(titles)
    i = stems.index(stem)
    return PageContext(
        banner=banner(params),
        facts=(f"run {params['run']}",),
        previous=(stems[i - 1], titles[stems[i - 1]]) if i > 0 else None,
        next=(stems[i + 1], titles[stems[i + 1]]) if i + 1 < len(stems) else None,
        prefixes=path_prefixes(params, root),
    )


def _entry(stem: str, selected: bool, reports: Path, code: bool) -> dict:
    """An index entry: 'not run' until executed; a notebook left out by --only keeps its earlier reports."""
    if selected:
        return {"stem": stem, "status": "not run", "wall_s": None}
    earlier = {
        key: reports / name
        for key, name in (("html", f"{stem}.html"), ("code_html", f"{stem}-code.html"))
        if (reports / name).exists()
    }
    return {"stem": stem, "status": "not selected", "wall_s": None, **earlier}


def run_pipeline(
    params_path: str | os.PathLike,
    only: list[str] | None = None,
    *,
    code: bool = False,
    notebooks_dir: str | os.PathLike | None = None,
) -> Path:
    """Run the pipeline a params file describes; returns reports/<run>/index.html.

    only: notebook number prefixes to run (e.g. ['01', '03']); code: also render <stem>-code.html;
    notebooks_dir: where <stem>.ipynb live (default notebooks/ under the project root).
    Raises NotebookFailedError after writing the index when a notebook fails.
    """
    params = load_params(params_path)
    stems = select_notebooks(params, only, params_path)
    root = project_root()
    nb_dir = resolve_path(notebooks_dir) if notebooks_dir else root / "notebooks"
    missing = [s for s in stems if not (nb_dir / f"{s}.ipynb").exists()]
    if missing:
        raise ParamsError(
            f"Params file {params_path} lists notebooks {missing} that are not in {nb_dir}; "
            "remove them from 'notebooks' or add the notebooks."
        )
    check_kernel()
    run = str(params["run"])
    runs, reports = run_dir(run), report_dir(run)
    write_run_metadata(runs / "run.json", params)
    started = now_utc()
    titles = {s: _title(nb_dir, s) for s in params["notebooks"]}
    entries = [{**_entry(s, s in stems, reports, code), "title": titles[s]} for s in params["notebooks"]]
    failure = None
    for entry in (e for e in entries if e["status"] == "not run"):
        nb_out = runs / f"{entry['stem']}.ipynb"
        nb_out.unlink(missing_ok=True)  # never render a stale notebook as this run's
        print(f"[wbs run] {entry['stem']} …", flush=True)
        start = time.perf_counter()
        try:
            _execute(nb_dir / f"{entry['stem']}.ipynb", nb_out, params, root)
            entry["status"] = "ok"
        except Exception as exc:  # papermill's execution error, or a kernel that died
            entry["status"] = "failed"
            failure = _describe_failure(entry["stem"], exc)
            entry["error"] = failure
            print(f"[wbs run] {failure}", file=sys.stderr, flush=True)
        entry["wall_s"] = time.perf_counter() - start
        _render(entry, nb_out, reports, code, _context(params, root, titles, entry["stem"]))
        print(f"[wbs run] {entry['stem']} {entry['status']} in {entry['wall_s']:.1f} s", flush=True)
        if failure:
            break
    facts = (f"{cohort_kind(params)} cohort", reader_kind(params), f"run started {started}")
    index = write_index(
        run,
        runs,
        reports,
        entries,
        run_metadata(params),
        banner=banner(params),
        facts=facts,
        prefixes=path_prefixes(params, root),
    )
    print(f"[wbs run] index: {index}", flush=True)
    if failure:
        raise NotebookFailedError(f"{failure} — see {index} and the partial notebook in {runs}.")
    return index


def _describe_failure(stem: str, exc: Exception) -> str:
    """One line naming the notebook, the failing cell and its error (papermill's ename/evalue)."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return f"Notebook {stem} failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
    return f"Notebook {stem} could not be executed: {exc.__class__.__name__}: {exc}"

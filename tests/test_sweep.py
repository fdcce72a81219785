"""zoo sweep: templates and search spaces, the checks before training, the study, the
Pareto front, the report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from zoo.errors import SweepError
from zoo.sweep.pareto import pareto_front
from zoo.sweep.space import Expression, SearchSpace, Template


def zoo(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "100", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout)


# --- templates ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, values, expected", [
    ("2*w", {"w": 16}, 32),
    ("w // 3 + 1", {"w": 16}, 6),
    ("-(w - 2) ** 2", {"w": 4}, -4),
    ("w / 4", {"w": 16}, 4),  # a whole quotient is a whole number: r{w/4} is r4, not r4.0
    ("max(8, w // 4)", {"w": 16}, 8),
    ("round(w * 1.5)", {"w": 5}, 8),
    ("2 ** 3 % 5", {}, 3),
])
def test_expressions_compute_like_python(text, values, expected):
    assert Expression(text).evaluate(values) == expected


@pytest.mark.parametrize("text, message", [
    ("open(w)", "{open(w)}: 'open' is not a function of a template (min, max, round, int)"),
    ("w.__class__", "{w.__class__}: cannot read '.__class__' (numbers, names, + - * / // % **, parentheses)"),
    ("w[0]", "{w[0]}: cannot read '[0]' (numbers, names, + - * / // % **, parentheses)"),
    ("(w + 1", "{(w + 1}: the expression ends too early"),
    ("w w", "{w w}: unexpected 'w'"),
    ("", "{}: an empty field; write an expression, e.g. {2*w}"),
])
def test_an_expression_that_is_not_arithmetic_is_refused(text, message):
    with pytest.raises(SweepError) as error:
        Expression(text)
    assert str(error.value) == message


def test_evaluation_errors_say_what_went_wrong():
    with pytest.raises(SweepError, match=r"^\{w // 0\}: division by zero \(16 // 0\)$"):
        Expression("w // 0").evaluate({"w": 16})
    with pytest.raises(SweepError, match=r"^\{2 \*\* w\}: 2 \*\* 100 is too large for a block string$"):
        Expression("2 ** w").evaluate({"w": 100})
    with pytest.raises(SweepError, match=r"'gelu' is not a number; a text variable goes in a field of its own"):
        Expression("2 * fun").evaluate({"fun": "gelu"})


def test_a_template_fills_widths_depths_and_options():
    space = SearchSpace.from_grid("r{w} m r{2*w} m {d}r{4*w}", ["w=16,32", "d=1,2", "fun=relu,gelu", "lr=0.01"])
    variants = space.grid()
    assert len(variants) == 8
    first = variants[0]
    assert first.blocks == "r16 m r32 m 1r64"
    assert first.options == {"fun": "relu"}
    assert first.knobs == {"lr": 0.01}
    assert first.label == "r16 m r32 m 1r64 fun=relu lr=0.01"
    assert [v.blocks for v in variants[-2:]] == ["r32 m r64 m 2r128"] * 2


def test_a_template_names_the_variables_it_misses_and_a_broken_brace():
    with pytest.raises(SweepError) as error:
        SearchSpace.from_grid("r{w} m r{2*d}", ["w=8"])
    assert str(error.value) == "the template 'r{w} m r{2*d}' uses d but no variable gives it; add --grid d=..."
    with pytest.raises(SweepError, match=r"^'r\{w\} m r\{2\*w': a '\{' or '\}' without its pair at column 9$"):
        Template("r{w} m r{2*w")
    with pytest.raises(SweepError, match=r"--grid 'w': write NAME=V1,V2,... e.g. w=16,32,64"):
        SearchSpace.from_grid("r{w}", ["w"])


def test_a_search_space_file_has_ranges_choices_log_scales_and_a_budget(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(textwrap.dedent("""\
        blocks: "cnf{w} m {d}r"
        variables:
          w: {low: 8, high: 64, log: true}
          d: {low: 1, high: 3}
          fun: [relu, gelu]
          lr: {low: 1.0e-4, high: 1.0e-2, log: true}
        options: {norm: 1}
        budget: {trials: 12, epochs: 2}
    """))
    space = SearchSpace.from_file(path)
    assert (space.trials, space.epochs) == (12, 2)
    assert space.variables["w"].grid() == [8, 16, 32, 64]
    assert space.variables["d"].grid() == [1, 2, 3]
    assert space.grid_size() is None  # lr is a range of real numbers
    variant = space.variant({"w": 8, "d": 2, "fun": "gelu", "lr": 1e-3})
    assert (variant.blocks, variant.options, variant.knobs) == ("cnf8 m 2r", {"norm": 1, "fun": "gelu"}, {"lr": 1e-3})
    with pytest.raises(SweepError, match=r"lr: a range of real numbers \(0.0001 to 0.01\) has no grid; give it a step"):
        space.grid()


@pytest.mark.parametrize("text, message", [
    ("blocks: r{w}\nvariables: {w: {low: 0, high: 4, log: true}}\n", "variables: w: a log scale needs low > 0 (it is 0)"),
    ("blocks: r{w}\nvariables: {w: {low: 9, high: 4}}\n", "variables: w: low 9 is above high 4"),
    ("blocks: r{w}\nvariables: {w: {lo: 1, high: 4}}\n", "variables: w: unknown key 'lo' (low, high, log, step; or choices)"),
    ("blocks: r{w}\nvariables: {w: [8]}\nbudget: {trials: 0}\n", "budget: trials: 0 must be a whole number >= 1"),
    ("blocks: r{w}\nvarables: {w: [8]}\n", "unknown key 'varables' (blocks, variables, options, budget)"),
    ("blocks: [r8]\n", "blocks: give the template"),
])
def test_a_bad_search_space_file_says_where(tmp_path, text, message):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(SweepError) as error:
        SearchSpace.from_file(path)
    assert str(error.value).startswith(f"{path}: {message}")


# --- the checks before training ----------------------------------------------------------

def test_every_variant_is_checked_and_the_failures_are_listed_before_training(tmp_path):
    from zoo.sweep.check import check_variants
    from zoo.train.data import load_data

    data = load_data("digits")
    space = SearchSpace.from_grid("cnf{w} {pools} r{2*w}", ["w=4,8", "pools=m,m m m m"])
    checked = check_variants(space.grid(), data, batch=100)
    assert [(c.variant.blocks, c.ok) for c in checked] == [
        ("cnf4 m r8", True), ("cnf4 m m m m r8", False), ("cnf8 m r16", True), ("cnf8 m m m m r16", False)]
    assert checked[1].error.startswith("cnf4 m m m m r8 cannot take the images of digits (1x8x8)")
    assert checked[0].fit.params == 1_078
    # 16 bytes a parameter; the outputs of cnf4 (4x8x8), m (4x4x4), r8 (8x4x4), the head (10), 3x, float32, batch 100
    assert checked[0].memory == 16 * 1_078 + 3 * 4 * 100 * (256 + 64 + 128 + 10) == 566_848
    limited = check_variants(space.grid()[:1], data, batch=100, max_memory=1000)
    assert limited[0].error.startswith("needs about 0.0 GiB to train a batch of 100 (limit 0.0 GiB)")


def test_zoo_sweep_refuses_a_template_without_its_values(tmp_path):
    result = zoo("sweep", "r{w} m r{2*w}", "--out", str(tmp_path / "s"))
    assert result.returncode == 2
    assert result.stderr == ("zoo sweep: error: the template 'r{w} m r{2*w}' uses w but no variable gives it; "
                             "add --grid w=...\n")


# --- the Pareto front --------------------------------------------------------------------

def test_the_front_keeps_the_runs_no_other_beats():
    rows = [{"run": "a", "val_acc": 0.90, "params": 1000, "seconds_per_1e6": 50.0},
            {"run": "b", "val_acc": 0.95, "params": 5000, "seconds_per_1e6": 40.0},
            {"run": "c", "val_acc": 0.89, "params": 3000, "seconds_per_1e6": 30.0},
            {"run": "d", "val_acc": 0.97, "params": 5000, "seconds_per_1e6": 90.0},
            {"run": "e", "val_acc": 0.99, "params": 500, "pruned": True}]
    assert [rows[i]["run"] for i in pareto_front(rows, "params")] == ["a", "d"]
    assert [rows[i]["run"] for i in pareto_front(rows, "time")] == ["c", "b", "d"]


def _summary(folder: Path, name: str, acc: float, params: int, blocks: str) -> None:
    (folder / name).mkdir(parents=True)
    (folder / name / "summary.json").write_text(json.dumps(
        {"run": name, "val_acc": acc, "seconds_per_1e6": 10.0, "params": params, "macs": 10 * params,
         "epochs": 2, "blocks": blocks, "model": blocks, "data": "digits"}))
    (folder / name / "history.json").write_text(json.dumps(
        [{"epoch": 1, "val_acc": acc - 0.1, "train_acc": acc - 0.2, "val_loss": 1.0, "train_loss": 1.2},
         {"epoch": 2, "val_acc": acc, "train_acc": acc - 0.1, "val_loss": 0.8, "train_loss": 0.9}]))


def test_zoo_runs_pareto_prints_the_front_and_writes_the_plot(tmp_path):
    _summary(tmp_path, "small", 0.80, 1_000, "cnf8 m r16")
    _summary(tmp_path, "wide", 0.90, 20_000, "cnf32 m r64")
    _summary(tmp_path, "waste", 0.85, 30_000, "cnf32 m r64 r64")
    result = zoo("runs", str(tmp_path), "--pareto", "acc,params")
    assert result.returncode == 0, result.stderr
    front = result.stdout[result.stdout.index("Pareto front"):]
    assert front.splitlines()[4:7] == ["│ 0.8000 │  1,000 │ cnf8 m r16  │", "│ 0.9000 │ 20,000 │ cnf32 m r64 │",
                                       "└────────┴────────┴─────────────┘"]
    assert "Pareto front: 2 of 3 runs" in front
    assert (tmp_path / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = zoo("runs", str(tmp_path), "--pareto", "acc,speed")
    assert bad.returncode == 2
    assert bad.stderr == "zoo runs: error: --pareto 'acc,speed': give acc,params, acc,time or acc,macs\n"


# --- the study (slow: real training on digits) -------------------------------------------

def _folders(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if (p / "history.json").is_file())


@pytest.mark.slow
def test_a_sweep_on_digits_prunes_the_weak_variants_and_leaves_run_folders_a_plot_and_a_report(tmp_path):
    out = tmp_path / "sweep"
    result = zoo("sweep", "cnf{w} m r{2*w}", "--grid", "w=4,8,16", "fun=relu,gelu", "--epochs", "3",
                 "--limit", "500", "--lr", "0.01", "--device", "cpu", "--out", str(out))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "6 variants: 6 pass the checks"
    pruned = [line for line in lines if ": pruned after epoch " in line]
    assert len(pruned) >= 1
    assert f"runs, {len(pruned)} pruned" in result.stdout
    assert "Pareto front:" in result.stdout
    folders = _folders(out)
    assert len(folders) == 6
    for folder in folders:  # each a normal run folder
        summary = json.loads((folder / "summary.json").read_text())
        history = json.loads((folder / "history.json").read_text())
        assert (folder / "last.pt").is_file() and (folder / "best.pt").is_file()
        assert len(history) == summary["epochs"] == (1 if summary.get("pruned") else 3) or summary.get("pruned")
    assert sum(1 for f in folders if json.loads((f / "summary.json").read_text()).get("pruned")) == len(pruned)
    assert (out / "pareto.png").stat().st_size > 10_000
    # --resume: a finished study trains nothing again
    again = zoo("sweep", "cnf{w} m r{2*w}", "--grid", "w=4,8,16", "fun=relu,gelu", "--epochs", "3",
                "--limit", "500", "--lr", "0.01", "--device", "cpu", "--out", str(out), "--resume")
    assert again.returncode == 0, again.stderr
    assert "epoch" not in "".join(line for line in again.stdout.splitlines() if line.startswith("trial"))
    report = zoo("report", str(out), "-o", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr
    page = (tmp_path / "report.html").read_text()
    assert page.count('<tr class="') == 6
    assert page.count("<pre>") == 6 and page.count("data:image/png;base64,") == 1 + 6  # cost tables; plot, curves
    assert "http://" not in page and "https://" not in page  # nothing fetched


@pytest.mark.slow
def test_a_cut_off_sweep_resumes_where_it_stopped(tmp_path):
    out = tmp_path / "sweep"
    args = ["sweep", "cnf{w} m r{2*w}", "--grid", "w=4,8,16", "--epochs", "2", "--limit", "300",
            "--pruner", "none", "--device", "cpu", "--out", str(out)]
    first = zoo(*args, "--trials", "2")
    assert first.returncode == 0, first.stderr
    assert len(_folders(out)) == 2
    stamps = {f.name: (f / "history.json").stat().st_mtime_ns for f in _folders(out)}
    refused = zoo(*args)
    assert refused.returncode == 2
    assert "holds a study already: continue it with --resume" in refused.stderr
    resumed = zoo(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert len(_folders(out)) == 3
    assert {f.name: (f / "history.json").stat().st_mtime_ns for f in _folders(out) if f.name in stamps} == stamps


@pytest.mark.slow
def test_two_workers_finish_one_study_and_no_variant_trains_twice(tmp_path):
    out = tmp_path / "sweep"
    args = [sys.executable, "-m", "zoo", "sweep", "cnf{w} m r{2*w}", "--grid", "w=4,6,8,10", "--epochs", "1",
            "--limit", "200", "--pruner", "none", "--device", "cpu", "--out", str(out), "--study", "shared"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
               for _ in range(2)]
    outputs = [w.communicate(timeout=600) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    trained = [line for stdout, _ in outputs for line in stdout.splitlines() if ": epoch 1 acc " in line]
    labels = [line.split(": ")[1] for line in trained]
    assert sorted(labels) == ["cnf10 m r20", "cnf4 m r8", "cnf6 m r12", "cnf8 m r16"]  # each once, in all
    assert all(outputs[i][0].strip() for i in range(2))
    for folder in _folders(out):
        assert len(json.loads((folder / "history.json").read_text())) == 1


def _postgres_binaries() -> Path | None:
    """Debian keeps initdb and pg_ctl out of PATH, in /usr/lib/postgresql/VERSION/bin."""
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    return None


@pytest.mark.slow
def test_workers_share_a_study_in_a_real_postgresql_server(tmp_path):
    pytest.importorskip("psycopg2", reason="psycopg2-binary is not installed (the test extra has it)")
    binaries = _postgres_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server here (Debian: apt-get install postgresql)")
    import socket
    import tempfile

    data = Path(tempfile.mkdtemp(prefix="zoo-pg-"))  # not under pytest's folders, which only root may enter
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(data, "nobody")
        as_user = ["runuser", "-u", "nobody", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def run(*command: str) -> None:
        done = subprocess.run([*as_user, *command], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{command[0]}: {done.stdout}{done.stderr}"

    run(str(binaries / "initdb"), "-D", str(data / "db"), "-U", "zoo", "--auth=trust")
    run(str(binaries / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "log"), "-w", "-o",
        f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start")
    try:
        url = f"postgresql+psycopg2://zoo@127.0.0.1:{port}/postgres"  # the database initdb makes
        base = ["sweep", "cnf{w} m r{2*w}", "--grid", "w=4,8", "--epochs", "1", "--limit", "200", "--pruner",
                "none", "--device", "cpu", "--storage", url, "--study", "widths"]
        first = zoo(*base, "--out", str(tmp_path / "a"), "--trials", "1")
        second = zoo(*base, "--out", str(tmp_path / "b"))
        assert first.returncode == 0, first.stderr
        assert second.returncode == 0, second.stderr
        import optuna

        study = optuna.load_study(study_name="widths", storage=url)
        assert sorted(t.user_attrs["label"] for t in study.trials) == ["cnf4 m r8", "cnf8 m r16"]
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    finally:
        run(str(binaries / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)


_PROBE_START = "<script>window.__errors = []; window.addEventListener('error', e => window.__errors.push(e.message));</script>"
_PROBE_END = """<script>
window.addEventListener('load', function () {
  var shades = Array.from(document.images).map(function (img) {
    var canvas = document.createElement('canvas'); canvas.width = 64; canvas.height = 64;
    var context = canvas.getContext('2d'); context.drawImage(img, 0, 0, 64, 64);
    var pixels = context.getImageData(0, 0, 64, 64).data, seen = new Set();
    for (var i = 0; i < pixels.length; i += 4) seen.add(pixels[i] + ',' + pixels[i + 1] + ',' + pixels[i + 2]);
    return [img.naturalWidth, seen.size];
  });
  document.querySelectorAll('table.runs th')[1].click();
  var acc = Array.from(document.querySelectorAll('table.runs tbody tr')).map(r => r.cells[1].textContent);
  document.body.setAttribute('data-probe', JSON.stringify({errors: window.__errors, shades: shades,
    rows: document.querySelectorAll('table.runs tbody tr').length, acc: acc,
    width: document.documentElement.scrollWidth}));
});
</script>"""


@pytest.mark.slow
def test_the_report_renders_in_headless_chromium(tmp_path):
    import html as html_module
    import re

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no Chromium here (Debian: apt-get install chromium)")
    runs = tmp_path / "runs"
    _summary(runs, "small", 0.80, 1_000, "cnf8 m r16")
    _summary(runs, "wide", 0.90, 20_000, "cnf32 m r64")
    _summary(runs, "waste", 0.85, 30_000, "cnf32 m r64 r64 " * 8)  # a long block string must wrap
    result = zoo("report", str(runs), "-o", str(tmp_path / "report.html"))
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "report.html").read_text()
    probed = page.replace("<style>", _PROBE_START + "<style>", 1).replace("</body>", _PROBE_END + "</body>")
    (tmp_path / "probe.html").write_text(probed)
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1366,900",
                          "--virtual-time-budget=10000", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          (tmp_path / "probe.html").as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r'data-probe="([^"]*)"', dom.stdout)
    assert found, dom.stderr[-2000:]
    probe = json.loads(html_module.unescape(found.group(1)))
    assert probe["errors"] == []
    assert probe["rows"] == 3
    assert probe["acc"] == ["0.8000", "0.8500", "0.9000"]  # sorted by a click
    assert len(probe["shades"]) == 1 + 3  # the Pareto plot and each run's curves
    assert all(width > 100 and colors > 20 for width, colors in probe["shades"])  # drawn, not blank
    assert probe["width"] <= 1366  # no sideways scrolling at a laptop's width


@pytest.mark.slow
def test_a_search_space_file_with_tpe_samples_the_ranges(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(textwrap.dedent("""\
        blocks: "cnf{w} m r{2*w}"
        variables:
          w: {low: 4, high: 8}
          lr: {low: 1.0e-3, high: 1.0e-2, log: true}
        options: {fun: gelu}
        budget: {trials: 3, epochs: 1}
    """))
    result = zoo("sweep", str(path), "--sampler", "tpe", "--limit", "200", "--device", "cpu",
                 "--out", str(tmp_path / "s"), "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["trial"] for row in rows] == [0, 1, 2]
    for row in rows:
        assert 4 <= row["values"]["w"] <= 8 and 1e-3 <= row["lr"] == row["values"]["lr"] <= 1e-2
        assert row["options"] == {"fun": "gelu"} and row["epochs"] == 1
        assert row["blocks"] == f"cnf{row['values']['w']} m r{2 * row['values']['w']}"
    refused = zoo("sweep", str(path), "--grid", "w=4", "--out", str(tmp_path / "t"))
    assert refused.returncode == 2
    assert refused.stderr == f"zoo sweep: error: --grid: {path} gives the variables; change them in the file\n"



@pytest.mark.slow
def test_ctrl_c_stops_a_sweep_and_resume_finishes_it(tmp_path):
    import signal

    out = tmp_path / "sweep"
    args = ["sweep", "cnf{w} m r{2*w}", "--grid", "w=4,8", "--epochs", "3", "--limit", "300", "--pruner", "none",
            "--sampler", "grid", "--device", "cpu", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "zoo", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    for line in process.stdout:
        if ": epoch 1 acc " in line:
            process.send_signal(signal.SIGINT)  # once: the epoch under way ends, last.pt is written
            break
    process.communicate(timeout=600)
    assert process.returncode == 130
    cut = _folders(out)
    assert len(cut) == 1 and len(json.loads((cut[0] / "history.json").read_text())) in (1, 2)
    resumed = zoo(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "was cut off: queued again" in resumed.stdout
    assert f"resuming {cut[0]} at epoch " in resumed.stdout
    for folder in _folders(out):
        assert [row["epoch"] for row in json.loads((folder / "history.json").read_text())] == [1, 2, 3]
    assert len(_folders(out)) == 2

"""Start-up cost: ``import dialogue`` and ``Engine.from_path``, each in a fresh interpreter.

    python bench/import_time.py            # 11 runs of each variant
    python bench/import_time.py --quick    # smoke test: 1 run, no import-only variant

Imports are timed with bytecode cached, as after a normal install. The
children write and read ``.pyc`` files in a private temporary folder
(``PYTHONPYCACHEPREFIX``, removed at the end), and ``PYTHONDONTWRITEBYTECODE``
is dropped from their environment (set on some machines, it would make every
run compile every module from source). One untimed run of each variant fills
that cache first, for the standard library as well as for dialogue and its
dependencies (with a prefix set, Python ignores ``__pycache__`` folders).

Three variants run as subprocesses of this interpreter, interleaved, after that
untimed run: ``python -c pass`` (the interpreter's own start-up),
``import dialogue``, and ``import dialogue`` then
``Engine.from_path("flows/customer_service.yaml")``. For each run the child
times its own statements with ``time.perf_counter`` and the parent times the
whole process; the table gives medians. The child also reports whether
``openai`` (which only the LLM fallback needs) was imported: it must not be.
Finally one ``-X importtime`` run lists the slowest imports.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence

import _common as c

TARGET_MS = 300.0
WATCH = ("openai", "httpx", "pydantic", "jinja2", "transitions", "yaml", "click", "asyncio")

CHILD = """
import json, sys, time
t0 = time.perf_counter()
import dialogue
t1 = time.perf_counter()
after_import = {{m: m in sys.modules for m in {watch!r}}}
n_import = len(sys.modules)
t2 = t1
if {load!r}:
    engine = dialogue.Engine.from_path({flow!r})
    t2 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "from_path": t2 - t1, "after_import": after_import,
                  "after_load": {{m: m in sys.modules for m in {watch!r}}},
                  "modules_import": n_import, "modules_load": len(sys.modules)}}))
"""


def child_code(load: bool) -> str:
    return CHILD.format(watch=WATCH, load=load, flow=str(c.FLOW))


def cached_env(pycache: str) -> dict[str, str]:
    """This process's environment, with bytecode written to and read from ``pycache``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def run(args: list[str], env: Mapping[str, str]) -> tuple[float, str, str]:
    t0 = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, cwd=c.REPO, env=env, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"{' '.join(args[:3])}... failed:\n{done.stderr}")
    return wall, done.stdout, done.stderr


def slowest_imports(top: int, env: Mapping[str, str]) -> list[list[object]]:
    """The ``top`` imports with the largest cumulative time under ``-X importtime``."""
    _, _, err = run([sys.executable, "-X", "importtime", "-c", child_code(True)], env)
    rows = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = (p.strip() for p in line[len("import time:") :].split("|"))
        if not name.startswith(" "):  # top level: imported by the child itself or dialogue
            rows.append([name, int(cumulative_us) / 1000, int(self_us) / 1000])
        elif name.strip().startswith("dialogue"):
            rows.append([name.rstrip(), int(cumulative_us) / 1000, int(self_us) / 1000])
    rows.sort(key=lambda r: -float(r[1]))  # type: ignore[arg-type]
    return rows[:top]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 1 run")
    parser.add_argument("--runs", type=int, help="runs of each variant")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dialogue-bench-pycache-") as pycache:
        report(args.quick, args.runs or (1 if args.quick else 11), cached_env(pycache))
    return 0


def report(quick: bool, runs: int, env: Mapping[str, str]) -> None:
    """Time the variants in children using ``env``, and print the tables."""

    both = "import dialogue + Engine.from_path"
    variants = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import dialogue": [sys.executable, "-c", child_code(False)],
        both: [sys.executable, "-c", child_code(True)],
    }
    if quick:  # the last variant times the import too (column "import ms")
        del variants["import dialogue"]
    for argv_ in variants.values():
        run(argv_, env)  # untimed: fills the bytecode cache and the file system's
    walls: dict[str, list[float]] = {name: [] for name in variants}
    inner: dict[str, list[dict[str, object]]] = {name: [] for name in variants}
    for _ in range(runs):
        for name, argv_ in variants.items():
            wall, out, _ = run(argv_, env)
            walls[name].append(wall)
            if out.strip():
                inner[name].append(json.loads(out))

    base_wall = c.median(walls["python -c pass"])
    rows: list[list[object]] = []
    for name in variants:
        wall = c.median(walls[name])
        reports = inner[name]
        imp = c.median([float(r["import"]) for r in reports]) * 1000 if reports else 0.0  # type: ignore[arg-type]
        load = c.median([float(r["from_path"]) for r in reports]) * 1000 if reports else 0.0  # type: ignore[arg-type]
        rows.append(
            [
                name,
                wall * 1000,
                (wall - base_wall) * 1000,
                imp if reports else "-",
                load if reports and load else "-",
                imp + load if reports else "-",
            ]
        )

    how = (
        "quick: 1 run per variant after 1 untimed run (smoke test only)"
        if quick
        else (f"medians of {runs} runs per variant (interleaved, after 1 untimed run of each)")
    )
    print(f"import time: fresh interpreters, bytecode cached, {how}")
    print(f"machine: {c.machine()}; {c.versions()}")
    print()
    headers = [
        "variant",
        "wall ms",
        "wall - pass ms",
        "import ms",
        "from_path ms",
        "in-process ms",
    ]
    print(c.table(headers, rows))
    print("(wall = whole subprocess seen by the parent; import / from_path = timed by the child)")
    print()
    total = float(rows[-1][5])  # type: ignore[arg-type]
    import_alone = float(rows[-1 if quick else 1][3])  # type: ignore[arg-type]
    verdict = "PASS" if total <= TARGET_MS else "FAIL"
    print(
        f"target: import dialogue + Engine.from_path <= {TARGET_MS:g} ms (in-process median): "
        f"{verdict} ({total:.0f} ms; import alone {import_alone:.0f} ms)"
    )
    last_import = inner["import dialogue" if "import dialogue" in inner else both][-1]
    last_load = inner[both][-1]
    openai_loaded = bool(last_import["after_import"]["openai"])  # type: ignore[index]
    print(
        f"openai in sys.modules after `import dialogue`: {openai_loaded} "
        f"({'FAIL' if openai_loaded else 'PASS'}: it must not be); "
        f"after Engine.from_path: {bool(last_load['after_load']['openai'])}"  # type: ignore[index]
    )
    print(
        "loaded after `import dialogue`: "
        + ", ".join(f"{m}={'yes' if v else 'no'}" for m, v in last_import["after_import"].items())  # type: ignore[attr-defined]
        + f" ({last_import['modules_import']} modules; {last_load['modules_load']} after from_path)"
    )
    if not quick:
        print()
        print("slowest imports (one -X importtime run of import + from_path):")
        print(c.table(["module", "cumulative ms", "self ms"], slowest_imports(12, env)))


if __name__ == "__main__":
    raise SystemExit(main())

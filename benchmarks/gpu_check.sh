#!/usr/bin/env bash
# The GPU check, in one run of a few minutes on a machine with an NVIDIA GPU and CuPy:
# the full test suite with the CuPy backend enabled, then the GPU benchmark.
#
#   benchmarks/gpu_check.sh OUTDIR [WHEELDIR]
#
# Writes into OUTDIR: env.txt (GPU, versions), tests.log, gpu_bench.log, gpu_bench.json and
# summary.json.  No network is needed: graphrnn runs from this checkout, and packages the
# machine lacks (graphviz, hypothesis) are installed from WHEELDIR when given; test modules
# whose packages are still missing are left out (pytest's header names them).
# Exit status: 0 when the tests and the benchmark both passed.
set -u
out=${1:?usage: benchmarks/gpu_check.sh OUTDIR [WHEELDIR]}
wheels=${2:-}
cd "$(dirname "$0")/.."
mkdir -p "$out"
py=${PYTHON:-python3}
if [ -n "$wheels" ] && ls "$wheels"/*.whl >/dev/null 2>&1; then
    $py -m pip install -q --no-index --no-deps --no-compile --target /tmp/graphrnn-wheels \
        "$wheels"/*.whl && export PYTHONPATH=/tmp/graphrnn-wheels
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-ci}

{
    nvidia-smi 2>&1 | head -15
    $py - <<'EOF'
import sys, numpy, graphrnn
print("python", sys.version.split()[0], "numpy", numpy.__version__)
try:
    import cupy
    print("cupy", cupy.__version__, "devices", cupy.cuda.runtime.getDeviceCount())
except Exception as e:
    print("cupy unavailable:", e)
print("graphrnn backends:", graphrnn.available_backends())
EOF
} >"$out/env.txt" 2>&1
cat "$out/env.txt"

$py -m pytest -q -ra -p no:cacheprovider tests 2>&1 | tee "$out/tests.log"
tests_rc=${PIPESTATUS[0]}

$py benchmarks/gpu_step.py --json "$out/gpu_bench.json" 2>&1 | tee "$out/gpu_bench.log"
bench_rc=${PIPESTATUS[0]}

$py - "$out" "$tests_rc" "$bench_rc" <<'EOF'
import json, os, sys
out, tests_rc, bench_rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
log = open(os.path.join(out, "tests.log")).read().strip().splitlines()
summary = {"tests_exit": tests_rc, "tests_summary": log[-1] if log else "",
           "benchmark_exit": bench_rc}
bench = os.path.join(out, "gpu_bench.json")
if os.path.exists(bench):
    summary["ratios"] = {f"{r['cell']} {','.join(map(str, r['config']))}": r["ratio"]
                         for r in json.load(open(bench))}
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=2)
print(json.dumps(summary, indent=2))
EOF
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]

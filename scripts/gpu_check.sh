#!/usr/bin/env bash
# One command for the GPU-throughput issue on one CUDA GPU (H100/H200: about 6 minutes, capped
# at 7.5). Installs nothing: it runs the package from this checkout (PYTHONPATH) with the torch
# already installed (with CUDA); only if nasprox's own dependencies are missing does it try
# `pip install -e .`.
#
#   scripts/gpu_check.sh                 # the real check, on cuda
#   scripts/gpu_check.sh --cpu           # dry run of every step on the CPU, few cells (proves the script)
#
# Steps (each with its own timeout inside one overall deadline; a failing step is reported and the
# others still run; the exit status is 1 if any step failed):
#   1. the CUDA tests (pytest -m cuda tests/test_near_batched.py tests/test_proxies_gradient.py): grasp
#      on a CUDA dropout forward; batched NEAR vs one by one vs
#      CPU, TF32 off by default and on when allowed
#   2. NEAR launch counts per score on one cell: legacy / sequential / batched (torch.profiler,
#      aten ops and CUDA kernels)
#   3. NEAR archs/s legacy vs sequential vs batched on 10 cells, interleaved in one process
#   4. scripts/bench_speed.py --device cuda on 200 NATS-TSS cells: reference-style loop (on the
#      first 20 cells) vs the engine, NEAR and the suite; archs/s, GPU utilisation, peak memory
#   5. CPU vs CUDA scores on 20 cells (scripts/compare_devices.py; NEAR with near.init_rng=cpu, to
#      relative 1e-4; the other proxies to Spearman >= 0.999)
#   6. snip, grad_norm, plain and fisher sharing fisher's backward vs one each (scripts/bench_shared_memo.py)
#      on the 200 cells: seconds, ratio, scores to relative 1e-4
# Everything (logs, JSON, nvidia-smi samples) goes to $OUT if set, else gpu_check_out/.
#
# Input images: $DATA_ROOT, else shared/data/inputs or ../shared/data/inputs
# (cifar10_test_1000_from_jpg.npz); if none is there, Gaussian inputs (--synthetic), said loudly.
# To use the real images on a machine that only gets this checkout, copy the .npz into the
# checkout first (e.g. gpu_check_data/, untracked, so it travels with the working tree).
set -euo pipefail

MODE=cuda
if [[ "${1:-}" == "--cpu" ]]; then MODE=cpu; shift; fi
if [[ $# -gt 0 ]]; then echo "usage: $0 [--cpu]" >&2; exit 2; fi

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
OUTDIR="${OUT:-gpu_check_out}"
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
exec > >(tee -a "$OUTDIR/gpu_check.log") 2>&1
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

if [[ "$MODE" == cuda ]]; then
  DEVICE=cuda; ARCHS=200; REF_ARCHS=20; TIMING_ARCHS=10; AGREE=20; REPS=32; BATCH=64; BUDGET=450
  TEST_FILTER="-m cuda"
  # re-inits from the CPU generator on the CUDA side (near.init_rng=cpu): the same weights as the CPU
  # run, so NEAR must agree to round-off (the default CUDA generator draws other, equally valid weights)
  CMP=(--a cpu --b cuda --b-proxy-opt near.init_rng=cpu)
else  # dry run on a (possibly loaded) CPU: every step, tiny sizes
  DEVICE=cpu; ARCHS=3; REF_ARCHS=2; TIMING_ARCHS=2; AGREE=2; REPS=2; BATCH=16; BUDGET=1500
  TEST_FILTER="-m cuda"  # collected and skipped without a GPU: proves the marker and the file import
  CMP=(--a cpu --b cpu --b-proxy-opt near.batched=on)
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
fi
START=$(date +%s)
DEADLINE=$((START + BUDGET))
FAILED=()

step() {  # step NAME CAP_SECONDS CMD...: run CMD under min(CAP, time left), log it, record failure
  local name="$1" cap="$2"; shift 2
  local now left limit rc
  now=$(date +%s); left=$((DEADLINE - now))
  echo
  echo "== [$(date -u +%H:%M:%S)] $name (cap ${cap}s, ${left}s left)"
  if (( left < 15 )); then echo "SKIPPED: out of time"; FAILED+=("$name (no time left)"); return 0; fi
  limit=$(( cap < left ? cap : left ))
  echo "\$ $*"
  set +e
  timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$OUTDIR/$name.txt"
  rc=${PIPESTATUS[0]}
  set -e
  if (( rc == 124 || rc == 137 )); then echo "TIMEOUT after ${limit}s"; FAILED+=("$name (timeout)")
  elif (( rc != 0 )); then echo "FAILED (exit $rc)"; FAILED+=("$name (exit $rc)"); fi
  return 0
}

echo "== nasprox GPU check, mode $MODE, output $OUTDIR, started $(date -u +%FT%TZ)"
git -C "$REPO" rev-parse HEAD 2>/dev/null || true
git -C "$REPO" status --short 2>/dev/null | head -20 || true

# environment and imports (installs only if nasprox's dependencies are missing)
if ! python -c "import nasprox.cli, scipy, pandas, typer, yaml, pytest" 2>/dev/null; then
  echo "nasprox or a dependency does not import; trying pip install -e . (needs the dependencies reachable)"
  timeout 300 python -m pip install -e . || { echo "cannot import or install nasprox"; exit 2; }
fi
timeout 60 python - <<'EOF'
import torch, nasprox
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cudnn {torch.backends.cudnn.version()}, "
      f"devices {torch.cuda.device_count()}, nasprox {nasprox.__version__}, cpu threads {torch.get_num_threads()}")
for i in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(i)
    print(f"cuda:{i} {p.name}, {p.total_memory / 2**30:.0f} GiB, {p.multi_processor_count} SMs")
EOF
if [[ "$MODE" == cuda ]]; then
  python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || { echo "torch sees no CUDA GPU: run '$0 --cpu' for the dry run"; exit 2; }
fi

DATA_ARGS=()
for cand in "${DATA_ROOT:-}" gpu_check_data/cifar10_test_1000_from_jpg.npz \
            shared/data/inputs/cifar10_test_1000_from_jpg.npz ../shared/data/inputs/cifar10_test_1000_from_jpg.npz; do
  if [[ -n "$cand" && -e "$cand" ]]; then DATA_ARGS=(--data-root "$cand"); break; fi
done
if [[ ${#DATA_ARGS[@]} -eq 0 ]]; then
  DATA_ARGS=(--synthetic)
  echo "!! no cifar10_test_1000_from_jpg.npz found (set DATA_ROOT): using Gaussian inputs (--synthetic)"
fi
echo "inputs: ${DATA_ARGS[*]}"

SMI_PID=""
if [[ "$MODE" == cuda ]] && command -v nvidia-smi >/dev/null; then
  nvidia-smi || true
  nvidia-smi --query-gpu=timestamp,utilization.gpu,utilization.memory,memory.used,power.draw \
    --format=csv -lms 250 > "$OUTDIR/nvidia_smi.csv" 2>/dev/null &
  SMI_PID=$!
fi
cleanup() { if [[ -n "$SMI_PID" ]]; then kill "$SMI_PID" 2>/dev/null || true; fi; }
trap cleanup EXIT

step 1_cuda_tests 150 python -m pytest -q -rs $TEST_FILTER tests/test_near_batched.py tests/test_proxies_gradient.py
step 2_launch_counts 120 python scripts/bench_near_batched.py --profile --device "$DEVICE" --reps "$REPS" \
  --batch-size "$BATCH" "${DATA_ARGS[@]}"
step 3_near_batched_timing 120 python scripts/bench_near_batched.py --device "$DEVICE" --archs "$TIMING_ARCHS" \
  --reps "$REPS" --batch-size "$BATCH" "${DATA_ARGS[@]}"
step 4_bench_speed 240 python scripts/bench_speed.py --device "$DEVICE" --archs "$ARCHS" --ref-archs "$REF_ARCHS" \
  --near-repetitions "$REPS" --batch-size "$BATCH" --json "$OUTDIR/bench_speed.json" "${DATA_ARGS[@]}"
step 5_cpu_vs_device 200 python scripts/compare_devices.py "${CMP[@]}" --archs "$AGREE" --near-repetitions "$REPS" \
  --batch-size "$BATCH" --json "$OUTDIR/compare_devices.json" "${DATA_ARGS[@]}"
step 6_shared_memo 60 python scripts/bench_shared_memo.py --device "$DEVICE" --proxies snip,grad_norm,plain,fisher \
  --archs "0:$ARCHS" --batch-size "$BATCH"

cleanup
if [[ -s "$OUTDIR/nvidia_smi.csv" ]]; then
  python - "$OUTDIR/nvidia_smi.csv" <<'EOF' || true
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1])))[1:]
util = [float(r[1].split()[0]) for r in rows if len(r) > 3 and r[1].strip().split()[0].replace('.', '').isdigit()]
mem = [float(r[3].split()[0]) for r in rows if len(r) > 3 and r[3].strip().split()[0].replace('.', '').isdigit()]
if util:
    print(f"nvidia-smi over the whole check: GPU utilisation mean {statistics.mean(util):.0f} %, "
          f"max memory used {max(mem):.0f} MiB ({len(util)} samples every 250 ms)")
EOF
fi
END=$(date +%s)
echo
echo "== done in $((END - START)) s; outputs in $OUTDIR"
if [[ ${#FAILED[@]} -gt 0 ]]; then
  printf 'FAILED STEP: %s\n' "${FAILED[@]}"
  exit 1
fi
echo "all steps passed"

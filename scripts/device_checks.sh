#!/usr/bin/env bash
# Issue 18's GPU checks, prepared to run in one call each on a lent GPU machine (docs/performance.md).
#
#   here, once per session:  bash scripts/device_checks.sh prepare   # wheels the GPU image lacks
#   on the GPU machine:      bash scripts/device_checks.sh bench     # ~5 min, results under $OUT
#                            bash scripts/device_checks.sh train     # ~6 min, results under $OUT
#
# "prepare" downloads into .whl/ (ignored by git; carry it) the pure-Python dependencies that the
# GPU image does not hold. On the GPU machine the checkout is made importable without building it
# (the image has no network and no build backend): the wheels go to /tmp/site and a generated
# dist-info registers the method plugins. Each step is time-boxed so a call ends inside 10 minutes:
#   bench: benchmarks/test_bench_diffuir.py::test_bench_diffuir_gpu_precisions (the DiffUIR network
#          on the GPU, fast path against the plain module in IEEE fp32, TF32 and bf16, with their
#          drift), then `harness --device cuda complexity` of DiffUIR-T and -L at 720x1280;
#   train: a fine-tune of diffuir-t-mini with 128x128 crops (weights and training.json come back:
#          judge them on the mini suite on CPU, `harness run --method diffuir --weights FILE
#          --suite mini`, before replacing the shipped file and the gate baseline).
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=(pydantic==2.13.4 pydantic_core==2.46.4 annotated-types==0.7.0 typing-inspection==0.4.2
  typing_extensions==4.15.0 platformdirs==4.14.9)
OUT=${OUT:-device-out}
TRAIN_SECONDS=${TRAIN_SECONDS:-300}
REGISTER='
import pathlib, tomllib
project = tomllib.loads(pathlib.Path("pyproject.toml").read_text())["project"]
info = pathlib.Path("/tmp/site/uir_harness-0+checkout.dist-info")
info.mkdir(parents=True, exist_ok=True)
(info / "METADATA").write_text("Metadata-Version: 2.1\nName: uir-harness\nVersion: 0+checkout\n")
(info / "entry_points.txt").write_text("".join(
    f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in eps.items())
    for group, eps in project["entry-points"].items()))
'

setup() { # on the GPU machine: the checkout importable without building it
  mkdir -p "$OUT"
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  python3 -c "$REGISTER"
  export PYTHONPATH="$PWD:/tmp/site" PYTHONUNBUFFERED=1
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
  python3 -c "import torch; print('torch', torch.__version__)" | tee -a "$OUT/gpu.txt"
}

bench() { # about 5 minutes
  timeout 240 python3 -m pytest benchmarks/test_bench_diffuir.py -k gpu_precisions \
    --benchmark-disable -p no:randomly -s -q 2>&1 | tee "$OUT/bench_gpu.txt" || true
  for variant in t l; do
    timeout 45 python3 -m harness --device cuda complexity diffuir --variant "$variant" \
      --option random_init=true --size 720x1280 2>&1 | tee -a "$OUT/complexity.txt" || true
  done
}

train() { # about TRAIN_SECONDS of training, its step count sized from a 60-step probe
  local args=(--device cuda train --method diffuir --variant t --train-suite mini-train --seed 14
    --crop 128 --batch-per-task 4 --task-batch deblur=8 --task-batch dehaze=6 --lr 1e-4
    --lr-warmup-steps 100 --lr-schedule cosine --ema-update-every 1 --ema-update-after-step 100
    --init-weights baselines/diffuir/weights/diffuir-t-mini.safetensors)
  local steps
  timeout 120 python3 -m harness "${args[@]}" --steps 60 --checkpoint-every 60 --out /tmp/probe \
    >/dev/null 2>&1 || true
  steps=$(python3 -c "import json; s = json.load(open('/tmp/probe/training.json'))
print(max(200, int(($TRAIN_SECONDS - 45) * 60 / s['wall_time_s_this_session']) // 100 * 100))" ||
    echo 1000)
  echo "training $steps steps" | tee "$OUT/train_log.txt"
  timeout $((TRAIN_SECONDS + 60)) python3 -m harness "${args[@]}" --steps "$steps" \
    --checkpoint-every 500 --out /tmp/t-mini-gpu 2>&1 | tail -n 100 >>"$OUT/train_log.txt" || true
  cp /tmp/t-mini-gpu/diffuir-t.safetensors /tmp/t-mini-gpu/training.json "$OUT/" || true
}

case "${1:-}" in
prepare)
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >>.git/info/exclude
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
  ls .whl
  ;;
bench) setup && bench ;;
train) setup && train ;;
*)
  echo "usage: bash scripts/device_checks.sh prepare|bench|train" >&2
  exit 2
  ;;
esac

#!/usr/bin/env bash
# Stage 8 of the bundled model on one GPU inside a time budget (docs/MODEL_CARD.md, "Training on a GPU"),
# from the repository root. Needs only a PyTorch image (numpy, PyYAML, safetensors, einops, tqdm) and this
# checkout: training never imports the MIDI libraries. DATA is a dataset built here by `muse data build`;
# its token shards may travel xz-compressed (tokens-*.bin.xz; unpacked first) to fit a device call's 64 MiB.
#
# 1. PROBE steps (default 40, inside the preset's warmup, where the learning rate does not depend on the
#    total) time a step on this machine;
# 2. the preset's steps become PROBE + BUDGET seconds' worth of steps (default 300), written to RUN/preset.yaml;
# 3. the run resumes to that total (`--resume --override train.steps`: the same run, as if planned so) and
#    exports RUN/model (note limits included). With OUT set, the model, metrics and preset are copied there.
set -euo pipefail
PRESET=${PRESET:-configs/muse/small_stage8_gpu.yaml}
DATA=${DATA:-runs/gpu_data}
RUN=${RUN:-runs/stage8}
INIT=${INIT:-muse/assets/model}
BUDGET=${BUDGET:-300}
PROBE=${PROBE:-40}
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD:$PWD/tokenizers${PYTHONPATH:+:$PYTHONPATH}"

for packed in "$DATA"/*.xz; do
    [ -e "$packed" ] || continue
    "$PY" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[1][:-3], "wb"))' "$packed"
done
"$PY" -m muse train --config "$PRESET" --data "$DATA" --out "$RUN" --init-from "$INIT" --max-steps "$PROBE" --no-progress
steps=$("$PY" - "$RUN/metrics.jsonl" "$PROBE" "$BUDGET" "$PRESET" <<'PYTHON'
import json, sys
import yaml
timed = [r for r in map(json.loads, open(sys.argv[1])) if "tokens_per_s" in r]
if len(timed) < 2:
    sys.exit(f"{sys.argv[1]}: the probe logged {len(timed)} timed steps; raise PROBE or lower train.log_every")
seconds_per_step = timed[-1]["tokens"] / timed[-1]["tokens_per_s"]  # the last interval: past start-up
probe, budget = int(sys.argv[2]), float(sys.argv[3])
warmup = yaml.safe_load(open(sys.argv[4]))["train"].get("warmup_steps", 0)
if probe > warmup:
    sys.exit(f"PROBE ({probe}) must stay inside the preset's warmup ({warmup} steps)")
print(probe + max(1, int(budget / seconds_per_step)))
PYTHON
)
echo "probe: $PROBE steps; training to step $steps (about ${BUDGET}s more)"
sed "s/^  steps: .*/  steps: $steps/" "$PRESET" > "$RUN/preset.yaml"
"$PY" -m muse train --config "$RUN/preset.yaml" --data "$DATA" --out "$RUN" --resume --override train.steps --no-progress
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT/model"
    cp "$RUN"/model/* "$OUT/model/"
    cp "$RUN/metrics.jsonl" "$RUN/preset.yaml" "$OUT/"
fi

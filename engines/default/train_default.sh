#!/usr/bin/env bash
# Reproduces the shipped default model (engines/default) on a CPU. See README.md beside this.
# Usage: bash engines/default/train_default.sh [WORKDIR]   (default WORKDIR: data/)
set -euo pipefail
cd "$(dirname "$0")/../.."
W=${1:-data}
CP=.venv/bin/cosmos-policy

# 1. Demonstrations from the scripted experts (seeds 1000+ and 2000+; evaluation uses 0-999).
for emb in franka ur5e; do
  for task in reach push pick_place; do
    $CP record "$W/demos/$emb-$task" --task "$task" --embodiment "$emb" --episodes 50 \
      --seed 1000 --max-attempts 120 --overwrite
  done
  $CP record "$W/demos/$emb-reach2" --task reach --embodiment "$emb" --episodes 150 \
    --seed 2000 --max-attempts 300 --overwrite
done

# 2. One run from scratch: saliency-weighted autoencoder (1000 steps), then the three modes
#    (11000 steps), all demonstrations, batch 32.
$CP train "$W"/demos/{franka,ur5e}-{reach,reach2,push,pick_place} --out "$W/train-default" \
  --steps "${STEPS:-12000}" --ae-steps 1000 --batch 32 --seed 0 --ckpt-every 250

# 3. Ship the bundle (weights, config, domains, stats, manifest; not the train/ state).
for f in model.safetensors config.json domains.json stats.json manifest.json; do
  cp "$W/train-default/$f" engines/default/
done

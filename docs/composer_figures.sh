#!/usr/bin/env bash
# Composer-embedding figures and tables of a trained model, for the README and the model card.
#
#   docs/composer_figures.sh [MODEL]      (from the repository root; MODEL defaults to the bundled model)
#
# Environment: N (pieces per composer for adherence, default 20), PIECE_SECONDS (their length, default 10),
# DEVICE (torch device, default cpu), NEIGHBOURS (composers whose neighbours are listed).
# Writes docs/composer_map.png (t-SNE), docs/composer_map_pca.png, docs/composer_heatmap.png,
# docs/composers.csv, docs/composer_neighbours.txt and docs/composer_adherence.txt.
# The adherence step generates N pieces for every composer: on a CPU, budget tens of minutes.
set -euo pipefail

model=(--device "${DEVICE:-cpu}")
if [ $# -ge 1 ]; then model+=(--model "$1"); fi

muse composers map "${model[@]}" --method tsne -o docs/composer_map.png --heatmap docs/composer_heatmap.png
muse composers map "${model[@]}" --method pca -o docs/composer_map_pca.png
muse composers export "${model[@]}" -o docs/composers.csv

: > docs/composer_neighbours.txt
for name in ${NEIGHBOURS:-bach mozart beethoven chopin debussy joplin}; do
    if out=$(muse composers neighbours "$name" --k 5 "${model[@]}" 2>&1); then
        printf '%s\n%s\n\n' "$name:" "$out" >> docs/composer_neighbours.txt
    else
        echo "skipped $name: $out" >&2
    fi
done

muse composers adherence "${model[@]}" --n "${N:-20}" --seconds "${PIECE_SECONDS:-10}" | tee docs/composer_adherence.txt

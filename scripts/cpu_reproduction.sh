#!/usr/bin/env bash
# The CPU reproduction committed under results/reproduction/ (docs/reproduction.md), in its order of work:
# NATS-TSS CIFAR-10 first, then NATS-SSS (the first 200 cells of the 500-cell sample on all three datasets, then
# the rest), then the other TSS datasets. Resumable: run it again to continue.
# Usage: scripts/cpu_reproduction.sh [WORKERS]   (one torch thread per worker)
set -euo pipefail
cd "$(dirname "$0")/.."
WORKERS=${1:-2}
D=../shared/data
ROOTS=(--data-root "cifar10=$D/inputs/cifar10_test_1000_from_jpg.npz"
       --data-root "cifar100=$D/inputs/cifar100_test_916.npz"
       --data-root "ImageNet16-120=$D/inputs/imagenet16_120_val_1perclass.npz")
TSS=(--ground-truth "$D/nb201/nb201_test_acc_200ep.csv")
SSS=(--ground-truth "$D/nats_sss/sss_test_acc_90ep.csv")
COMMON=(--workers "$WORKERS" --no-progress --no-report --out results/reproduction)
nasprox reproduce near-table1 --sample 1000 --datasets cifar10 "${ROOTS[@]}" "${TSS[@]}" "${COMMON[@]}"
nasprox reproduce near-table2 --sample 500 --subset 200 "${ROOTS[@]}" "${SSS[@]}" "${COMMON[@]}"
for protocol in tcet-table2 epsilon-table1; do
  nasprox reproduce "$protocol" --sample 1000 --datasets cifar10 "${ROOTS[@]}" "${TSS[@]}" "${COMMON[@]}"
done
nasprox reproduce near-table2 --sample 500 "${ROOTS[@]}" "${SSS[@]}" "${COMMON[@]}"
for protocol in near-table1 tcet-table2 epsilon-table1; do
  nasprox reproduce "$protocol" --sample 1000 --datasets cifar100,ImageNet16-120 "${ROOTS[@]}" "${TSS[@]}" "${COMMON[@]}"
done
# one report over every CSV written (published_vs_ours for all protocols)
nasprox report results/reproduction/*.csv --out results/reproduction/report --bootstrap 1000

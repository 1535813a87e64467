#!/usr/bin/env bash
# Per-image cost of `icam eval`, per method, to size a cluster job (docs/cluster.md).
# Usage: tools/eval_cost.sh DATA N [MODEL_FLAGS...]   e.g.
#   tools/eval_cost.sh ../shared/data/dev-voc 8
#   tools/eval_cost.sh ../shared/data/dev-voc 8 --weights ../shared/reference/fixtures/resnet50_seed0.safetensors
# For each method alone, with the default metrics and with `--metrics localisation`, it runs
# `icam eval DATA --limit N` once and prints the CPU seconds (user + system, from
# /usr/bin/time) and the wall seconds per image, less a `--limit 0` run (start-up: loading
# the model, hashing its weights, listing the dataset). CPU seconds are what a cluster
# allocation bills and vary less than wall seconds on a loaded machine.
set -euo pipefail
data=$1; n=$2; shift 2
icam=${ICAM:-target/release/icam}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() { # out, args... -> "cpu wall"
  local out=$1; shift
  /usr/bin/time -f "%U %S %e" -o "$tmp/time" "$icam" eval "$data" --out "$tmp/$out" "$@" >/dev/null 2>"$tmp/err" \
    || { cat "$tmp/err" >&2; exit 1; }
  awk '{ printf "%.3f %.3f", $1 + $2, $3 }' "$tmp/time"
}
read -r cpu0 wall0 <<<"$(run start --limit 0 --methods gradcam "$@")"
echo "start-up: ${cpu0} s CPU, ${wall0} s wall"
echo "| method | metrics | CPU s / image | wall s / image |"
echo "|---|---|---|---|"
for metrics in localisation,drop,deletion,insertion localisation; do
  for m in icam gradcam gradcampp layercam; do
    read -r cpu wall <<<"$(run "$m-$metrics" --limit "$n" --methods "$m" --metrics "$metrics" "$@")"
    awk -v m="$m" -v x="$metrics" -v c="$cpu" -v w="$wall" -v c0="$cpu0" -v w0="$wall0" -v n="$n" \
      'BEGIN { printf "| %s | %s | %.2f | %.2f |\n", m, x, (c - c0) / n, (w - w0) / n }'
  done
done
# Every method of the default list in one run (they share the prediction pass).
read -r cpu wall <<<"$(run all --limit "$n" "$@")"
awk -v c="$cpu" -v w="$wall" -v c0="$cpu0" -v w0="$wall0" -v n="$n" \
  'BEGIN { printf "| icam,gradcam,gradcampp,layercam | localisation,drop,deletion,insertion | %.2f | %.2f |\n", (c - c0) / n, (w - w0) / n }'

#!/bin/bash
# One call on a lent GPU machine (the tool library's `device`), prepared here so that its 15 minutes
# go to work: the CUDA tests, the GPU benchmark rows, then one reproduce run resumed until time is up.
#
#   tools/device_run.sh prepare RUN
#       here: MNIST into .data/ (ignored by git), checks RUN, prints the call to make
#   tools/device_run.sh device SECONDS RUN -- REPRODUCE_ARGS...
#       there (the call's command): everything it measured, and RUN as a split tar, under $OUT
#   tools/device_run.sh collect FILES_AT
#       here: RUN (and any artifact that run finished) back in place, the GPU rows into BENCHMARKS.md
#
# RUN is one run folder of `python -m sparselab reproduce` (runs/reproduce/mnist/<preset>/lam<l>/seed<s>),
# the one REPRODUCE_ARGS resumes; the call carries it and .data, and the tree must stay under 64 MiB.
# Stop any local process training RUN before the call, and resume it here after `collect`.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
shift || true

case $mode in
prepare)
    run=${1:?usage: tools/device_run.sh prepare RUN}
    [ -f "$run/checkpoint.pt" ] || { echo "no checkpoint.pt in $run" >&2; exit 2; }
    : "${SPARSELAB_DATA:?set SPARSELAB_DATA to the folder that holds mnist/}"
    grep -qx '/.data/' .git/info/exclude || echo '/.data/' >>.git/info/exclude
    mkdir -p .data/mnist
    cp -u "$SPARSELAB_DATA"/mnist/*.gz .data/mnist/
    tree=$(git ls-files -z | xargs -0 du -cb | tail -n 1 | cut -f 1)
    extra=$(du -cb .data "$run" | tail -n 1 | cut -f 1)
    echo "travels: $(((tree + extra) >> 20)) MiB of 64 (tree, .data, $run)"
    echo "call: run(carry=[\".data\", \"$run\"], timeout_s=600, command=\"bash tools/device_run.sh" \
        "device 560 $run -- mnist --models ... --lams ... --seeds 1 --epochs 200\")"
    ;;
device)
    seconds=${1:?usage: tools/device_run.sh device SECONDS RUN -- REPRODUCE_ARGS...}
    run=${2:?RUN}
    [ "${3:-}" = "--" ] || { echo "expected -- before the reproduce arguments" >&2; exit 2; }
    shift 3
    [ -f "$run/checkpoint.pt" ] || { echo "no $run/checkpoint.pt: name it in carry" >&2; exit 2; }
    deadline=$((SECONDS + seconds - 45)) # the last 45 s pack what comes back
    : "${OUT:?OUT: the folder whose files come back}"
    device=${SPARSELAB_DEVICE:-cuda} # cpu: a dry run of this script on a machine without a GPU
    export SPARSELAB_DATA=$PWD/.data PYTHONPATH=$PWD PYTHONUNBUFFERED=1 MPLBACKEND=Agg TQDM_DISABLE=1
    left() { echo $((deadline - SECONDS > 1 ? deadline - SECONDS : 1)); } # timeout 0: no limit
    touch /tmp/device_run.start
    {
        nvidia-smi -L || true
        python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
        # the CUDA rows of the tests (nbval is not there: no notebooks); a failure does not stop the rest
        timeout 150 python3 -m pytest -o addopts= -p no:cacheprovider -q tests -k cuda || true
        # GPU benchmark rows, one benchmark at a time so that a timeout keeps the earlier ones
        for only in fista train trained; do
            timeout $(($(left) / 3 + 1)) python3 -m benchmarks.report --devices "$device" --only $only \
                --trained-runs "$run" --trained-stack 5 >/dev/null || echo "benchmark $only: rc $?"
        done
        cp benchmarks/results.json "$OUT/results.json"
        # training until the deadline: a killed run resumes from its last finished epoch
        timeout "$(left)" python3 -m sparselab reproduce "$@" --device "$device" --no-progress ||
            echo "reproduce: rc $? (124: stopped at the deadline)"
        tail -n 3 "$run/history.csv"
    } 2>&1 | tee "$OUT/device.log"
    # what comes back: at most 8 files of 16 MiB, so RUN and the changed artifacts as one split tar
    changed=$(find book/results -type f -newer /tmp/device_run.start)
    # shellcheck disable=SC2086  # artifact paths have no spaces
    tar cf - "$run" $changed | split -b 15M - "$OUT/back.tar."
    ls -l "$OUT"
    ;;
collect)
    at=${1:?usage: tools/device_run.sh collect FILES_AT}
    cat "$at"/back.tar.* | tar xvf -
    python -m benchmarks.report --merge "$at/results.json" >/dev/null
    mkdir -p runs/device_logs
    cp "$at/device.log" "runs/device_logs/$(date +%Y%m%d-%H%M).log"
    git status --short
    ;;
*)
    sed -n 2,16p "$0" >&2
    exit 2
    ;;
esac

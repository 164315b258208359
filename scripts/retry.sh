#!/usr/bin/env bash
# Run one maorders pass, retrying while it says "run again later" (exit 75).
# Any other code is final and is returned as is: 65 fix the file, 69 fix credentials,
# 73 fix the path, 78 fix settings, 1 a bug (see the log).
# Example: scripts/retry.sh 3 60 pull-orders     (3 tries, 60 s apart)
set -u
tries=${1:?usage: retry.sh TRIES PAUSE_SECONDS PASS [ARGS...]}
pause=${2:?usage: retry.sh TRIES PAUSE_SECONDS PASS [ARGS...]}
shift 2
for ((i = 1; i <= tries; i++)); do
  maorders "$@"
  code=$?
  [ "$code" -ne 75 ] && exit "$code"
  [ "$i" -lt "$tries" ] && sleep "$pause"
done
exit 75

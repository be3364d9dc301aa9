#!/bin/sh
# The lines, words and bytes of a file (wc) and its checksum (sha256sum,
# sha1sum or md5sum): coreutils only.
set -eu
file=$1 # "{file}": the uploaded file's path
algorithm=$2
case $algorithm in
  sha256 | sha1 | md5) ;;
  *)
    echo '{"error": "The checksum must be sha256, sha1 or md5."}' >&3
    exit 1
    ;;
esac

echo '{"total": 2, "status": "Counting"}' >&3
set -- $(wc -l -w -c <"$file")
lines=$1 words=$2 bytes=$3
echo '{"done": 1, "status": "Computing the checksum"}' >&3
digest=$("${algorithm}sum" <"$file" | cut -d' ' -f1)
echo "$algorithm $digest" # the job's log
printf '%s\n' "$digest" >"$SIDEJOB_OUTPUT_DIR/$algorithm.txt"
printf '{"done": 2, "result": {"lines": %s, "words": %s, "bytes": %s, "algorithm": "%s", "digest": "%s"}}\n' \
  "$lines" "$words" "$bytes" "$algorithm" "$digest" >&3

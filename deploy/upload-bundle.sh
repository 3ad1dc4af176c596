#!/usr/bin/env bash
# Uploads an exported bundle directory (`python -m export build --out DIR`: one directory per
# variant, each with its manifest.json) to its version directory; safe to run again. Usage:
#
#   deploy/upload-bundle.sh DIR gs://BUCKET/models/NAME/VERSION
#
# Files first and every manifest.json last, so a half-uploaded variant never looks complete (the
# program and the service treat a variant as present once its manifest is). A re-run resumes
# (rsync sends only what differs); a version whose manifests are all there and equal to DIR's is
# left alone; one whose manifests differ is never overwritten (released versions are immutable:
# rollbacks point back at them), so choose a new VERSION.
set -euo pipefail

usage="usage: deploy/upload-bundle.sh DIR gs://BUCKET/models/NAME/VERSION"
dir=${1:?$usage}
dest=${2:?$usage}
dir=${dir%/}
dest=${dest%/}
case $dest in gs://*/models/*/*) ;; *) echo "$usage" >&2; exit 64 ;; esac

variants=()
for manifest in "$dir"/*/manifest.json; do
  [ -f "$manifest" ] || continue
  variants+=("$(basename "$(dirname "$manifest")")")
done
if [ "${#variants[@]}" -eq 0 ]; then
  echo "$dir holds no VARIANT/manifest.json: build it with python -m export build --out $dir" >&2
  exit 1
fi

same=0
for variant in "${variants[@]}"; do
  if remote=$(gcloud storage cat "$dest/$variant/manifest.json" 2>/dev/null); then
    if [ "$remote" != "$(cat "$dir/$variant/manifest.json")" ]; then
      echo "$dest/$variant already holds a different bundle: choose a new version" >&2
      exit 1
    fi
    same=$((same + 1))
  fi
done
if [ "$same" -eq "${#variants[@]}" ]; then
  echo "$dest already holds this bundle (${variants[*]}): nothing to upload"
  exit 0
fi

gcloud storage rsync --recursive --exclude='(^|.*/)manifest\.json$' "$dir" "$dest"
gcloud storage rsync --recursive "$dir" "$dest"
echo "uploaded ${variants[*]} to $dest"

#!/usr/bin/env bash
# Interpolate a video 2x (or MULTI) with RIFE and encode it with x265:
#     examples/encode.sh INPUT OUTPUT.hevc [MULTI] [MODEL]
# vspipe carries the video on stdout; RIFE's messages go to stderr.
set -euo pipefail
input=$1
output=$2
multi=${3:-2}
model=${4:-}
here=$(dirname "$0")
set -- -c y4m -a src="$input" -a multi="$multi"
[ -n "$model" ] && set -- "$@" -a model="$model"
tmp="$output.part"
vspipe "$@" "$here/encode.vpy" - | x265 --log-level warning --no-progress --y4m --input - --crf 18 --preset fast --output "$tmp"
mv "$tmp" "$output"  # only a complete encode gets the final name
echo "$output" >&2

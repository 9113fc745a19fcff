#!/usr/bin/env bash
# Interpolate a video with RIFE and encode it to HEVC:
#
#     examples/encode.sh [options] INPUT OUTPUT.hevc [MULTI] [MODEL]
#
#   MULTI            rate factor (default 2); MODEL: a model name (default: the manifest's default)
#   --start N        first source frame to use (default 0)
#   --end N          last source frame to use, inclusive (default: the last)
#   --crf N          encoder quality, lower is better (default 18)
#   --encoder NAME   x265 (the program) or ffmpeg (libx265; from imageio-ffmpeg when no ffmpeg is
#                    installed); default: x265 when installed, else ffmpeg
#
# vspipe is taken from the project's .venv when it exists (no need to activate it), else from PATH.
# Progress goes to stderr; the video never touches the terminal. OUTPUT is written to a temporary file
# beside it and renamed only when the whole encode succeeded: a failure or Ctrl-C leaves nothing behind.
# The output is a raw HEVC stream; mux it with e.g. `ffmpeg -i OUTPUT.hevc -c copy out.mkv`.
set -euo pipefail

usage() { sed -n '2,16s/^# \{0,1\}//p' "$0" >&2; exit 2; }
die() { echo "encode.sh: $*" >&2; exit 2; }

start="" end="" crf=18 encoder=""
while [ $# -gt 0 ]; do
    case $1 in
        --start) start=${2:?--start needs a frame number}; shift 2 ;;
        --end) end=${2:?--end needs a frame number}; shift 2 ;;
        --crf) crf=${2:?--crf needs a value}; shift 2 ;;
        --encoder) encoder=${2:?--encoder needs x265 or ffmpeg}; shift 2 ;;
        -h|--help) usage ;;
        --) shift; break ;;
        -*) die "unknown option $1 (see --help)" ;;
        *) break ;;
    esac
done
[ $# -ge 2 ] && [ $# -le 4 ] || usage
input=$1 output=$2 multi=${3:-2} model=${4:-}
[ -f "$input" ] || die "no such input file: $input"

here=$(cd "$(dirname "$0")" && pwd)
venv="$here/../.venv/bin"
if [ -x "$venv/vspipe" ]; then
    vspipe="$venv/vspipe" python="$venv/python"
elif command -v vspipe >/dev/null 2>&1; then
    vspipe=$(command -v vspipe) python=$(command -v python3 || command -v python)
else
    die "vspipe not found: run 'make venv' in the project, or install VapourSynth (pip install vapoursynth)"
fi

if [ -z "$encoder" ]; then
    if command -v x265 >/dev/null 2>&1; then encoder=x265; else encoder=ffmpeg; fi
fi
case $encoder in
    x265)
        command -v x265 >/dev/null 2>&1 || die "x265 is not installed (try --encoder ffmpeg)"
        encode() { x265 --log-level warning --no-progress --y4m --input - --crf "$crf" --preset fast --output "$1"; } ;;
    ffmpeg)
        ffmpeg=$(command -v ffmpeg || "$python" -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())' 2>/dev/null) ||
            die "no ffmpeg: install it, or imageio-ffmpeg into the Python next to vspipe ($python)"
        encode() {
            "$ffmpeg" -nostdin -v error -y -f yuv4mpegpipe -i - -c:v libx265 -crf "$crf" -preset fast \
                -x265-params log-level=warning -f hevc "$1"
        } ;;
    *) die "--encoder must be x265 or ffmpeg, not $encoder" ;;
esac

args=(-c y4m -p -a "src=$input" -a "multi=$multi")
[ -n "$model" ] && args+=(-a "model=$model")
[ -n "$start" ] && args+=(-a "start=$start")
[ -n "$end" ] && args+=(-a "end=$end")

tmp=$(mktemp "$(dirname "$output")/.$(basename "$output").XXXXXX.part")
trap 'rm -f "$tmp"' EXIT
chmod "$(printf '%o' $((0666 & ~$(umask))))" "$tmp"  # mktemp's 0600 would carry over to the output
trap 'exit 130' INT
trap 'exit 143' TERM
"$vspipe" "${args[@]}" "$here/encode.vpy" - | encode "$tmp"
mv -f "$tmp" "$output"
trap - EXIT
echo "$output" >&2

#!/usr/bin/env bash
# Profile one benchmark scenario with perf (call graphs through Go's frame pointers and into OpenCV/libjpeg/kernel).
#
#   bench/profile.sh server|client PASSTHROUGH(auto|off) FPS CLIP VIEWERS DECODE(true|false) [SECONDS]
#   e.g. bench/profile.sh server auto 30 /tmp/clip.avi 50 false 10
#
# Builds server and client into a temporary directory, starts the server on the clip and VIEWERS headless clients,
# waits 3 s, records the chosen process (the server, or the first client) at 1999 Hz for SECONDS (default 10), and
# prints where the CPU goes: per library, then per symbol with callees included (--children). Then, for as long
# again, Go's own view of the same process through its PPROF_ADDR: pprof's CPU profile (Go code only: cgo calls
# show as one frame) and the bytes allocated since start by function (alloc_space). perf.data and both pprof
# profiles are kept in the printed directory for `perf report -i` and `go tool pprof`.
set -euo pipefail
what=$1 pt=$2 fps=$3 clip=$4 n=$5 dec=$6 secs=${7:-10}
cd "$(dirname "$0")/.."
dir=$(mktemp -d /tmp/camstream-profile-XXXXXX)
go build -o "$dir/" ./services/server ./services/client
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
http=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pprof=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
spprof=off cpprof=off
if [ "$what" = client ]; then cpprof=127.0.0.1:$pprof; else spprof=127.0.0.1:$pprof; fi
env -i PATH="$PATH" CAPTURE_SOURCE="$clip" CAPTURE_FPS="$fps" CAPTURE_PASSTHROUGH="$pt" JPEG_QUALITY=80 \
	LISTEN_ADDR=127.0.0.1:$port HTTP_ADDR=127.0.0.1:$http PPROF_ADDR=$spprof LOG_FORMAT=json \
	"$dir/server" >"$dir/server.log" 2>&1 &
spid=$!
clients=()
cleanup() { kill "${clients[@]}" 2>/dev/null || true; sleep 0.3; kill "$spid" 2>/dev/null || true; wait || true; }
trap cleanup EXIT
sleep 1
for i in $(seq 1 "$n"); do
	pp=off
	[ "$i" = 1 ] && pp=$cpprof
	env -i PATH="$PATH" SERVER_ADDR=127.0.0.1:$port VIEWER_DISPLAY=none VIEWER_DECODE="$dec" LOG_FORMAT=json \
		STATS_INTERVAL=1s PPROF_ADDR=$pp "$dir/client" >"$dir/client$i.log" 2>&1 &
	clients+=($!)
done
sleep 3
pid=$spid
[ "$what" = client ] && pid=${clients[0]}
perf record -F 1999 -g -q -p "$pid" -o "$dir/perf.data" -- sleep "$secs"
samples=$(perf script -i "$dir/perf.data" -F period 2>/dev/null | wc -l)
echo "== $what: $samples samples in $secs s = $(echo "scale=3; $samples/1999/$secs" | bc) cores"
echo "== per library"
perf report -i "$dir/perf.data" --no-children --stdio -q --sort dso -g none 2>/dev/null | head -12 || true
echo "== per symbol, callees included (top 60)"
perf report -i "$dir/perf.data" --children --stdio -q --sort dso,sym -g none 2>/dev/null | grep -v '^$' | head -60 || true
echo "== Go's own view (pprof CPU profile, $secs s, top 25; cgo calls show as one frame)"
curl -sf -o "$dir/cpu.pprof" "http://127.0.0.1:$pprof/debug/pprof/profile?seconds=$secs"
go tool pprof -top -nodecount=25 "$dir/$what" "$dir/cpu.pprof" 2>/dev/null | tail -n +5 || true
echo "== bytes allocated since start, by function (pprof alloc_space, top 15)"
curl -sf -o "$dir/allocs.pprof" "http://127.0.0.1:$pprof/debug/pprof/allocs"
go tool pprof -top -nodecount=15 -sample_index=alloc_space "$dir/$what" "$dir/allocs.pprof" 2>/dev/null | tail -n +5 || true
echo "== last stats of the first client"
grep '"stats"' "$dir/client1.log" | tail -3 || true
echo "perf data, pprof profiles and logs: $dir"

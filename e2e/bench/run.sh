#!/usr/bin/env bash
# `make bench`: every benchmark of the Performance issue, printed as BENCHMARKS.md-ready markdown
# (also saved to $WITHAUTH_CACHE/bench-latest.md, default ~/.cache/withauth). Progress and raw
# output go to stderr. Benchmarks report numbers; a step fails only if it could not measure.
#
# Knobs (environment): BENCH_COUNT (in-process runs, interleaved, default 5), BENCH_TIME (-benchtime
# of each, default 1s), BENCH_ROUNDS (Traefik rounds, default 5), BENCH_DURATION (measured seconds
# per Traefik run, default 5s), BENCH_CONNS (default 32), BENCH_SKIP (space-separated steps to
# skip: yaegi stages constructs floor memory traefik), FLOOR_DIR (default ../shared/floor), TRAEFIK (a Traefik binary instead of building v3.6.12),
# YAEGI (the yaegi command of the stages step; make bench passes the pinned one), JWT_PLUGIN_DIR
# (traefik-jwt-plugin's source instead of the module v0.10.0 from the Go module proxy).
set -uo pipefail
cd "$(dirname "$0")"
cache="${WITHAUTH_CACHE:-$HOME/.cache/withauth}"
count="${BENCH_COUNT:-5}"
benchtime="${BENCH_TIME:-1s}"
rounds="${BENCH_ROUNDS:-5}"
duration="${BENCH_DURATION:-5s}"
conns="${BENCH_CONNS:-32}"
skip=" ${BENCH_SKIP:-} "
mkdir -p "$cache"
out="$cache/bench-latest.md"
: >"$out"
status=0
emit() { tee -a "$out"; }
skipped() { [[ "$skip" == *" $1 "* ]]; }
fail() { echo "bench: $1 failed" >&2; status=1; }

rev=$(git -C ../.. rev-parse --short HEAD 2>/dev/null || echo none)
[ -n "$(git -C ../.. status --porcelain -- '*.go' 2>/dev/null)" ] && rev="$rev + uncommitted changes"
{
  echo "## Latest run"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); plugin: $rev"
  echo "- Machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), Linux $(uname -r)"
  echo "- Go $(go env GOVERSION | sed "s/^go//"), Yaegi v0.16.1, Traefik v3.6.12"
  echo "- Settings: BENCH_COUNT=$count BENCH_TIME=$benchtime BENCH_ROUNDS=$rounds BENCH_DURATION=$duration BENCH_CONNS=$conns"
  echo
} | emit

testbin="$cache/bench.test"
if ! go test -c -o "$testbin" . >&2; then
  fail "building the benchmarks"
  exit 1
fi

if ! skipped yaegi; then
  raw="$cache/bench-yaegi.txt"
  : >"$raw"
  echo "bench: in-process Yaegi benchmarks, $count interleaved runs of -benchtime $benchtime (raw: $raw)" >&2
  for i in $(seq "$count"); do
    "$testbin" -test.run '^$' -test.bench '^Benchmark(Direct|YaegiNoop|YaegiWithauth.*|RSAVerifyPKCS1v15|ES256Verify)$' \
      -test.benchtime "$benchtime" -test.benchmem 2>&1 | tee -a "$raw" >&2 || fail "in-process run $i"
  done
  go run ./cmd/benchreport <"$raw" | emit
fi

# The verification path stage by stage (the root package's stages_bench_test.go) under `yaegi
# test`, in a GOPATH copy of the plugin as make yaegi-test lays it out.
if ! skipped stages; then
  if [ -z "${YAEGI:-}" ]; then
    fail "stages (YAEGI is not set; make bench sets it)"
  else
    raw="$cache/bench-stages.txt"
    gopath="$cache/bench-stages-gopath"
    dir="$gopath/src/github.com/seed0ec25cca/withauth"
    echo "bench: verification stages under yaegi test (raw: $raw)" >&2
    rm -rf "$gopath" && (cd .. && go run ./cmd/stageplugin -tests .. "$gopath")
    stagesRe='^Benchmark(Stage.*|CacheMiss|RejectedToken)$'
    if (cd "$dir" && GOPATH="$gopath" GO111MODULE=off "$YAEGI" test -run '^$' -bench "$stagesRe" -benchtime "$benchtime" -benchmem .) >"$raw" 2>&1 &&
      (cd ../.. && go test -run '^$' -bench "$stagesRe" -benchtime "$benchtime" -benchmem .) >"$raw.compiled" 2>&1; then
      go run ./cmd/benchreport -stages -compiled "$raw.compiled" <"$raw" | emit
    else
      tail -n 20 "$raw" >&2
      fail "stages"
    fi
  fi
fi

if ! skipped constructs; then
  raw="$cache/bench-constructs.txt"
  echo "bench: Yaegi construct costs (raw: $raw)" >&2
  "$testbin" -test.run '^$' -test.bench '^BenchmarkYaegiConstructs$' -test.benchtime 300ms -test.count 3 -test.benchmem 2>&1 |
    tee "$raw" >&2 || fail "constructs"
  go run ./cmd/benchreport -constructs-only <"$raw" | emit
fi

# The floor (../shared/floor: the least a correct RS256 middleware costs under Yaegi), timed
# in process beside withauth with cacheSize 0 by its own harness, when it is there.
if ! skipped floor; then
  floor="${FLOOR_DIR:-../../../shared/floor}"
  if [ ! -d "$floor/harness" ]; then
    echo "bench: no floor at $floor (FLOOR_DIR): skipped" >&2
  else
    raw="$cache/bench-floor.txt"
    echo "bench: the floor beside withauth, in process (raw: $raw)" >&2
    root="$(cd ../.. && pwd)"
    # The floor's harness stages a plugin's root files only; withauth's token core is a package
    # of its own (internal/jose). A copy of the harness, with stageTree (floorpatch/) called after
    # stage, loads it; its timing code is unchanged.
    harness="$cache/floor-harness"
    rm -rf "$harness" && mkdir -p "$harness" && cp "$floor/harness/"* "$harness/" && chmod -R u+w "$harness"
    sed -i 's|stage(gopath, \*withauthDir, imp)|stage(gopath, *withauthDir, imp); stageTree(gopath, *withauthDir, imp)|' "$harness/main.go"
    cat floorpatch/stagetree.go.txt >>"$harness/main.go"
    plugin="$(cd "$floor/plugin" && pwd)"
    (cd "$harness" && go mod edit -replace "github.com/jwtfloor/floor=$plugin")
    if (cd "$harness" && go run . -withauth "$root" -plugin "$plugin") >"$raw" 2>&1; then
      {
        echo "### Beside the floor, in process under Yaegi"
        echo
        echo "\`cd $floor/harness && go run . -withauth <this checkout> -plugin ../plugin\`: withauth with cacheSize 0 and the floor's rules and two forwarded headers, interleaved with the floor; see ../shared/floor/README.md."
        echo
        sed -n '/^go1\./,$p' "$raw"
        echo
        awk -F'|' '
          /withauth-valid \/ floor-valid/ { v = $5 + 0 }
          /withauth-forged \/ floor-forged/ { f = $5 + 0 }
          END {
            print "| target | measured (cpu+gc) | verdict |"
            print "|---|---|---|"
            printf "| cacheSize 0, valid token / floor ≤ 1.5 | %.2f | %s |\n", v, (v <= 1.5 ? "met" : sprintf("MISSED by %.2f", v - 1.5))
            printf "| forged token / floor ≤ 1.3 | %.2f | %s |\n", f, (f <= 1.3 ? "met" : sprintf("MISSED by %.2f", f - 1.3))
            print ""
          }' "$raw"
      } | emit
    else
      tail -n 20 "$raw" >&2
      fail "floor"
    fi
  fi
fi

if ! skipped memory; then
  echo "bench: token cache memory" >&2
  go run ./cmd/memcache | emit || fail "memory"
  echo "bench: token cache memory, 100 routes" >&2
  go run ./cmd/memcache -routes 100 | emit || fail "memory for 100 routes"
fi

if ! skipped traefik; then
  traefik="${TRAEFIK:-}"
  if [ -z "$traefik" ]; then
    traefik=$(../scripts/build-traefik.sh) || { fail "building Traefik"; traefik=""; }
  fi
  if [ -n "$traefik" ]; then
    # traefik-jwt-plugin, the peer users compare withauth with: the module from the Go module
    # proxy into the bench's own module cache, unless JWT_PLUGIN_DIR names a copy.
    peer_version=v0.10.0
    peer=(-nopeer "JWT_PLUGIN_DIR names no directory")
    if [ -n "${JWT_PLUGIN_DIR:-}" ]; then
      [ -d "$JWT_PLUGIN_DIR" ] && peer=(-peer "$JWT_PLUGIN_DIR")
    else
      download=$(GOFLAGS=-modcacherw GOMODCACHE="$cache/bench-gomod" go mod download -json "github.com/traefik-plugins/traefik-jwt-plugin@$peer_version" 2>&1)
      dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p' <<<"$download")
      if [ -n "$dir" ]; then
        peer=(-peer "$dir")
      else
        why=$(sed -n 's/^[[:space:]]*"Error": "\(.*\)",*$/\1/p' <<<"$download" | sed 's/\\n.*//; s/\\t/ /g')
        peer=(-nopeer "go mod download github.com/traefik-plugins/traefik-jwt-plugin@$peer_version failed: ${why:-$download}")
        echo "bench: traefik-jwt-plugin $peer_version not measured: ${why:-$download}" >&2
      fi
    fi
    echo "bench: real Traefik ($traefik)" >&2
    go run ./cmd/traefikbench -traefik "$traefik" -rounds "$rounds" -duration "$duration" -conns "$conns" \
      -floor "${FLOOR_DIR:-../../../shared/floor}/plugin" "${peer[@]}" | emit ||
      fail "traefik"
  fi
fi

echo "bench: markdown saved to $out" >&2
exit $status

#!/usr/bin/env bash
# Install and run kinesalite, a local Kinesis emulator from npm, for the
# side-by-side benchmark in docs/performance.md.
#
#   bench/kinesalite/kinesalite.sh install   install kinesalite into $KINESALITE_DIR
#   bench/kinesalite/kinesalite.sh start     start it in the background; prints the endpoint
#   bench/kinesalite/kinesalite.sh stop      stop the one started with start
#   bench/kinesalite/kinesalite.sh run       run it in the foreground
#
# Environment: KINESALITE_PORT (default 4599: kinesalite's own default, 4567,
# is sluiced's --http address), KINESALITE_DIR (default ~/.cache/sluice-kinesalite),
# KINESALITE_VERSION (default 3.3.3), NPM (default npm).
#
# kinesalite keeps its data in memory (memdown): its native LevelDB add-on is
# not built, so its figures carry no disk cost at all. Streams become ACTIVE
# at once (--createStreamMs 0), as sluice's do.
set -euo pipefail

PORT="${KINESALITE_PORT:-4599}"
DIR="${KINESALITE_DIR:-$HOME/.cache/sluice-kinesalite}"
VERSION="${KINESALITE_VERSION:-3.3.3}"
NPM="${NPM:-npm}"
BIN="$DIR/node_modules/.bin/kinesalite"
PIDFILE="$DIR/kinesalite-$PORT.pid"
LOG="$DIR/kinesalite-$PORT.log"

die() { echo "kinesalite.sh: $*" >&2; exit 1; }

install() {
	command -v node >/dev/null || die "node is not installed (Debian: apt-get install nodejs npm)"
	command -v "$NPM" >/dev/null || die "$NPM is not installed (Debian: apt-get install npm)"
	if [[ -x "$BIN" ]] && grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/kinesalite/package.json" 2>/dev/null; then
		return
	fi
	mkdir -p "$DIR"
	echo "installing kinesalite@$VERSION into $DIR" >&2
	# --ignore-scripts: the optional LevelDB add-on would need a compiler and
	# node headers; kinesalite runs on memdown without it.
	"$NPM" install --prefix "$DIR" --no-save --no-audit --no-fund --ignore-scripts "kinesalite@$VERSION" >&2
	[[ -x "$BIN" ]] || die "npm did not install $BIN"
}

args() {
	echo --port "$PORT" --createStreamMs 0 --deleteStreamMs 0 --updateStreamMs 0 --shardLimit 1000
}

listening() {
	# Any HTTP answer means the port is taken.
	curl -s -o /dev/null -m 1 "http://127.0.0.1:$PORT/" 2>/dev/null
}

start() {
	install
	if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
		echo "http://127.0.0.1:$PORT"
		return
	fi
	listening && die "port $PORT is taken by another program; set KINESALITE_PORT"
	# shellcheck disable=SC2046
	nohup "$BIN" $(args) >"$LOG" 2>&1 &
	echo $! >"$PIDFILE"
	for _ in $(seq 100); do
		if listening; then
			echo "http://127.0.0.1:$PORT"
			return
		fi
		kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { cat "$LOG" >&2; rm -f "$PIDFILE"; die "kinesalite exited"; }
		sleep 0.1
	done
	die "kinesalite did not listen on port $PORT within 10 s (log: $LOG)"
}

stop() {
	[[ -f "$PIDFILE" ]] || return 0
	local pid
	pid="$(cat "$PIDFILE")"
	kill "$pid" 2>/dev/null || true
	rm -f "$PIDFILE"
}

case "${1:-}" in
install) install ;;
start) start ;;
stop) stop ;;
run)
	install
	# shellcheck disable=SC2046
	exec "$BIN" $(args)
	;;
*) die "usage: $0 install|start|stop|run" ;;
esac

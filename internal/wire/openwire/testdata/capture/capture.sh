#!/usr/bin/env bash
# Regenerates ../golden: the frames ActiveMQ's own client (activemq-client
# 5.17, Debian package "activemq") and broker exchange, in loose encoding.
# See README.md. Needs java, javac and /usr/share/activemq; runs in a few
# minutes; touches nothing outside a temporary directory and ../golden.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
pkg=$(cd "$here/../.." && pwd)
repo=$(cd "$pkg/../../.." && pwd)
amq=/usr/share/activemq
cp=$amq/lib/activemq-client.jar:/usr/share/java/geronimo-jms_1.1_spec.jar:/usr/share/java/geronimo-j2ee-management-1.1-spec.jar:/usr/share/java/hawtbuf.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar
work=$(mktemp -d)
broker_pid=
proxy_pid=

cleanup() {
  [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null || true
  [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building the proxy and the capture program in $work"
(cd "$repo" && go build -o "$work/owcapture" ./internal/wire/openwire/internal/owcapture)
mkdir -p "$work/classes"
javac -Xlint:-options -d "$work/classes" -cp "$cp" "$here/Capture.java"

echo "== starting ActiveMQ Classic (non-persistent, port chosen by the OS)"
base=$work/broker
mkdir -p "$base/conf"
sed -e 's#tcp://127.0.0.1:61616#tcp://127.0.0.1:0#' -e 's#useJmx="false"#useJmx="false" persistent="false"#' \
  /etc/activemq/instances-available/main/activemq.xml >"$base/conf/activemq.xml"
cat >"$base/log4j.properties" <<'LOG'
log4j.rootLogger=INFO, out
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=%m%n
LOG
java -Dlog4j.configuration="file:$base/log4j.properties" -Dactivemq.home=$amq -Dactivemq.base="$base" \
  -Dactivemq.conf="$base/conf" -Dactivemq.data="$base/data" \
  -jar $amq/bin/activemq.jar start "xbean:file:$base/conf/activemq.xml" >"$work/broker.log" 2>&1 &
broker_pid=$!
port=
for _ in $(seq 120); do
  port=$(sed -n 's#.*Listening for connections at: tcp://[^:]*:\([0-9]*\).*#\1#p' "$work/broker.log" | head -1)
  [ -n "$port" ] && break
  kill -0 "$broker_pid" || { cat "$work/broker.log"; exit 1; }
  sleep 0.5
done
[ -n "$port" ] || { echo "the broker did not start"; cat "$work/broker.log"; exit 1; }
echo "   broker on port $port"

# The console tools are run with java directly: Debian's /usr/bin/activemq
# wrapper passes its arguments through sh unquoted, which breaks failover:
# URLs.
cat >"$work/cli" <<CLI
#!/bin/sh
exec java -Dlog4j.configuration="file:$base/log4j.properties" -Dactivemq.home=$amq -Dactivemq.base="$base" -jar $amq/bin/activemq.jar "\$@"
CLI
chmod +x "$work/cli"
cli=$work/cli
n=0
raws=()

# run NAME COMMAND... runs one client command through a fresh proxy; the
# command's arguments may use @URL@ and @PORT@ for the proxy's address.
run() {
  local name=$1; shift
  n=$((n + 1))
  local raw; raw=$work/raw/$(printf %02d "$n")-$name
  raws+=("$raw")
  rm -f "$work/port"
  "$work/owcapture" proxy -upstream "127.0.0.1:$port" -out "$raw" -portfile "$work/port" 2>>"$work/proxy.err" &
  proxy_pid=$!
  for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
  local p; p=$(cat "$work/port")
  local args=()
  for a in "$@"; do a=${a//@URL@/tcp://127.0.0.1:$p}; args+=("${a//@PORT@/$p}"); done
  echo "== $name"; local t0=$SECONDS
  if ! timeout 120 "${args[@]}" >"$work/$name.out" 2>&1; then
    echo "   FAILED:"; tail -20 "$work/$name.out"; exit 1
  fi
  kill "$proxy_pid"; wait "$proxy_pid" || true; proxy_pid=
  echo "   $((SECONDS - t0)) s"
}

run cli-producer "$cli" producer --brokerUrl @URL@ --destination queue://golden.cli --messageCount 3
run cli-producer-nonpersistent "$cli" producer --brokerUrl @URL@ --destination queue://golden.cli --messageCount 2 --persistent false
run cli-producer-bytes "$cli" producer --brokerUrl @URL@ --destination queue://golden.cli --messageCount 1 --messageSize 100
run cli-producer-tx "$cli" producer --brokerUrl @URL@ --destination queue://golden.cli --messageCount 3 --transactionBatchSize 2
run cli-browse "$cli" browse --amqurl @URL@ golden.cli
run cli-consumer "$cli" consumer --brokerUrl @URL@ --destination queue://golden.cli --messageCount 4
run cli-consumer-clientack "$cli" consumer --brokerUrl @URL@ --destination queue://golden.cli --messageCount 2 --ackMode CLIENT_ACKNOWLEDGE
run cli-browse-failover "$cli" browse --amqurl "failover:(@URL@)" golden.cli
for s in types tx acks durable browse temp pull compress xa window keepalive clientid error; do
  run "java-$s" java -cp "$cp:$work/classes" Capture @URL@ "$s"
done

if grep -q CODEC-MISMATCH "$work/proxy.err"; then
  echo "== the codec did not reproduce some frames:"; grep CODEC-MISMATCH "$work/proxy.err"; exit 1
fi
echo "== every frame decoded and re-encoded identically; selecting golden files"
rm -rf "$pkg/testdata/golden"
"$work/owcapture" select -out "$pkg/testdata/golden" "${raws[@]}"
# The manifest names the temporary directory; keep only the scenario part.
sed -i "s#$work/raw/##" "$pkg/testdata/golden/MANIFEST"
ls "$pkg/testdata/golden" | wc -l | xargs echo "   golden files (with MANIFEST):"

#!/bin/sh
# Container command for mosquitto 2.0: run the broker and ask it to save its store every 0.5 s.
# autosave_interval alone saves at best every 2 s (1-s resolution, strict comparison); a kill -9 or
# a power cut then loses up to 2 s of messages the broker has already acknowledged. SIGUSR1 makes
# mosquitto save at its next loop pass (docs/protocol.md, "Broker durability").
set -u
CONF=${MOSQUITTO_CONF:-/mosquitto/config/mosquitto.conf}
EVERY=${MOSQUITTO_SAVE_EVERY_S:-0.5}

mosquitto -c "$CONF" &
pid=$!
# mosquitto installs its SIGUSR1 handler right after opening its listeners: wait one period first.
( sleep "$EVERY"; while kill -USR1 "$pid" 2>/dev/null; do sleep "$EVERY"; done ) &
ticker=$!
# A stop is forwarded, so mosquitto saves and exits cleanly; its exit status becomes ours.
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
wait "$pid"
status=$?
while kill -0 "$pid" 2>/dev/null; do  # wait returned for the trapped signal: wait for the exit itself
    wait "$pid"
    status=$?
done
kill "$ticker" 2>/dev/null
exit "$status"

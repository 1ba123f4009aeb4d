#!/usr/bin/env bash
# `wharf dlq list|show|replay` against a real broker, on dead letters written with kcat in the
# header layout of docs/formats/message-headers.md (any producer can write one), checked by
# output, exit codes and what kcat reads back from the original topic.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
start_broker --set group.initial.rebalance.delay.ms=0
fail() { echo "dlq_cli_test: FAIL: $*" >&2; exit 1; }
w() { "$WHARF_BIN" -b "$BROKER" "$@"; }

w topic create orders --partitions 1 >/dev/null
w topic create orders.dlq --partitions 1 >/dev/null
dead_letter() {  # key payload error-class message last-failure-ms original-offset
  printf '%s\n' "$2" | kcat -b "$BROKER" -P -t orders.dlq -k "$1" \
    -H ce_specversion=1.0 -H "ce_id=id-$1-$2" -H ce_source=test -H ce_type=checkout.OrderPlaced \
    -H ce_schemaversion=1 -H wharf-dlq-original-topic=orders -H wharf-dlq-original-partition=0 \
    -H "wharf-dlq-original-offset=$6" -H wharf-dlq-group=billing -H "wharf-dlq-error-class=$3" \
    -H "wharf-dlq-error-message=$4" -H wharf-dlq-attempts=5 -H wharf-dlq-first-failure-ms=1764000000000 \
    -H "wharf-dlq-last-failure-ms=$5"
}
dead_letter order-1 p1 unavailable "payments down" 1764000001000 10
dead_letter order-2 p2 "invalid argument" "bad total" 1764000002000 11
dead_letter order-1 p3 unavailable "payments down again" 1764100000000 12
printf 'not a dead letter\n' | kcat -b "$BROKER" -P -t orders.dlq -k junk

out=$(w dlq list orders.dlq 2>"$BROKER_DATA/err") || { cat "$BROKER_DATA/err"; fail "list failed"; }
cat "$BROKER_DATA/err"
echo "$out"
[ "$(echo "$out" | wc -l)" -eq 4 ] || fail "list: expected a header and 3 lines"
grep -q "1 record(s) that are not dead letters skipped" "$BROKER_DATA/err" || fail "list: the junk record was not reported"
echo "$out" | grep "order-2" | grep -q "orders/0/11" || fail "list: where order-2 came from"
echo "$out" | grep "order-2" | grep -q "invalid argument" || fail "list: error class of order-2"

out=$(w dlq list orders.dlq --error-class unavailable --since 2025-11-25T00:00:00Z 2>/dev/null)
[ "$(echo "$out" | tail -n +2 | wc -l)" -eq 1 ] || fail "list --error-class --since: expected 1 line, got: $out"
echo "$out" | grep -q "payments down again" || fail "list --since kept the wrong one"

out=$(w dlq show orders.dlq 0/1)
echo "$out"
echo "$out" | grep -q "^error           invalid argument: bad total" || fail "show: error"
echo "$out" | grep -q "^payload         p2" || fail "show: payload"
w dlq show orders.dlq 0/99 2>/dev/null && fail "show of a missing offset succeeded"

out=$(w dlq replay orders.dlq --key order-1 --dry-run)
echo "$out"
echo "$out" | grep -q "would replay 2 of 4" || fail "dry run: $out"
[ "$(kcat -b "$BROKER" -C -t orders -e -q | wc -l)" -eq 0 ] || fail "a dry run published"

out=$(w dlq replay orders.dlq --key order-1 --rate 100)
echo "$out"
echo "$out" | grep -q "replayed 2 of 4 dead letter(s) read from orders.dlq to their original topics" || fail "replay: $out"
got=$(kcat -b "$BROKER" -C -t orders -e -q -f '%k %s %h\n')
echo "$got"
[ "$(echo "$got" | wc -l)" -eq 2 ] || fail "replay: expected 2 records in orders"
echo "$got" | head -1 | grep -q "^order-1 p1 .*ce_id=id-order-1-p1" || fail "replay: first record keeps key, payload and id"
echo "$got" | grep -q "wharf-dlq-" && fail "replay: dead-letter headers were published"
echo "$got" | head -1 | grep -q "wharf-replayed-from=orders.dlq/0/0" || fail "replay: no replayed-from header"

w dlq replay orders.dlq --error-class "invalid argument" --to orders.fixed >/dev/null
[ "$(kcat -b "$BROKER" -C -t orders.fixed -e -q | wc -l)" -eq 1 ] || fail "replay --to"
w dlq list no-such-topic.dlq 2>/dev/null && fail "list of a missing topic succeeded"

# purge: a dry run first, then the cursor moves; list and replay skip what is purged.
out=$(w dlq purge orders.dlq --before 0/2)
echo "$out"
echo "$out" | grep -q "would purge 2 dead letter(s) of orders.dlq (dry run" || fail "purge dry run: $out"
[ "$(w dlq list orders.dlq 2>/dev/null | tail -n +2 | wc -l)" -eq 3 ] || fail "a dry run purged"
w dlq purge orders.dlq --before 0/2 --execute | grep -q "purged 2 dead letter(s)" || fail "purge --before"
out=$(w dlq list orders.dlq 2>/dev/null)
echo "$out"
[ "$(echo "$out" | tail -n +2 | wc -l)" -eq 1 ] || fail "list after purge: $out"
echo "$out" | grep -q "payments down again" || fail "the kept dead letter"
w dlq purge orders.dlq --before 0/1 --execute | grep -q "purged 0 dead letter(s)" || fail "the cursor moved back"
w dlq purge orders.dlq --all --execute | grep -q "purged 2 dead letter(s)" || fail "purge --all"  # p3 + the junk record
[ "$(w dlq list orders.dlq 2>/dev/null | tail -n +2 | wc -l)" -eq 0 ] || fail "list after purge --all"
w dlq purge orders.dlq 2>/dev/null && fail "purge without --all or --before succeeded"
echo "dlq_cli_test: ok"

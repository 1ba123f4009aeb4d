/* nats_pub: the peer measurement of bench/broker.sh. Publishes fixed-size messages to a NATS
 * JetStream file-backed stream as fast as acknowledgements allow (js_PublishAsync with at most
 * --max-pending unacknowledged messages in flight), and prints one JSON object on stdout:
 * messages acknowledged, bytes, seconds (first publish to last acknowledgement), msgs/s, MB/s.
 *
 * Threads: main publishes; the NATS library's own thread runs the acknowledgement handler, which
 * only bumps atomic counters. Durability is JetStream's: it acknowledges a message once it is in
 * the stream's file (written, not fsynced per message; nats-server syncs on an interval), which
 * is what the Wharf figure it is compared with does not get to skip.
 *
 * Usage: nats_pub --url nats://127.0.0.1:4222 [--stream BENCH] [--subject bench.x] [--size 100]
 *                 [--seconds 5] [--max-pending 4096]
 */
#define _POSIX_C_SOURCE 200809L  /* clock_gettime */
#include <nats/nats.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_ullong g_acked;
static atomic_ullong g_failed;

static void on_ack(jsCtx* js, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  (void)js;
  (void)closure;
  if (pa != NULL && pae == NULL) {
    atomic_fetch_add(&g_acked, 1);
  } else {
    atomic_fetch_add(&g_failed, 1);
  }
  natsMsg_Destroy(msg);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char* what, natsStatus s) {
  fprintf(stderr, "nats_pub: %s: %s (%s)\n", what, natsStatus_GetText(s), nats_GetLastError(NULL));
  return 1;
}

int main(int argc, char** argv) {
  const char* url = NULL;
  const char* stream = "BENCH";
  const char* subject = "bench.x";
  int size = 100;
  double seconds = 5;
  long long max_pending = 4096;
  for (int i = 1; i < argc; ++i) {
    const char* arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(arg, "--help") == 0 || value == NULL) {
      fprintf(stderr,
              "usage: nats_pub --url nats://HOST:PORT [--stream NAME] [--subject S] [--size B]\n"
              "                [--seconds S] [--max-pending N]\n");
      return strcmp(arg, "--help") == 0 ? 0 : 2;
    }
    if (strcmp(arg, "--url") == 0) url = value;
    else if (strcmp(arg, "--stream") == 0) stream = value;
    else if (strcmp(arg, "--subject") == 0) subject = value;
    else if (strcmp(arg, "--size") == 0) size = atoi(value);
    else if (strcmp(arg, "--seconds") == 0) seconds = atof(value);
    else if (strcmp(arg, "--max-pending") == 0) max_pending = atoll(value);
    else {
      fprintf(stderr, "nats_pub: unknown option %s\n", arg);
      return 2;
    }
    ++i;
  }
  if (url == NULL || size < 0 || seconds <= 0 || max_pending < 1) {
    fprintf(stderr, "nats_pub: --url is required; --size >= 0, --seconds > 0, --max-pending >= 1\n");
    return 2;
  }

  natsConnection* nc = NULL;
  jsCtx* js = NULL;
  natsStatus s = natsConnection_ConnectTo(&nc, url);
  if (s != NATS_OK) return fail("connect", s);

  jsOptions jo;
  jsOptions_Init(&jo);
  jo.PublishAsync.MaxPending = max_pending; /* the bound on unacknowledged messages in flight */
  jo.PublishAsync.AckHandler = on_ack;
  s = natsConnection_JetStream(&js, nc, &jo);
  if (s != NATS_OK) return fail("JetStream context", s);

  /* A file-backed stream with one subject; a stream left by an earlier run is removed first so
   * every run starts empty. */
  jsErrCode jerr = 0;
  js_DeleteStream(js, stream, NULL, &jerr);
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = stream;
  const char* subjects[] = {subject};
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  jsStreamInfo* si = NULL;
  s = js_AddStream(&si, js, &sc, NULL, &jerr);
  if (s != NATS_OK) return fail("creating the stream", s);
  jsStreamInfo_Destroy(si);

  char* payload = malloc(size > 0 ? (size_t)size : 1);
  for (int i = 0; i < size; ++i) payload[i] = (char)('A' + rand() % 26);

  unsigned long long published = 0, stalls = 0;
  const double start = now_seconds();
  while (now_seconds() - start < seconds) {
    s = js_PublishAsync(js, subject, payload, size, NULL);
    if (s == NATS_OK) {
      ++published;
    } else if (s == NATS_TIMEOUT) {
      ++stalls;  /* max-pending reached for the whole stall wait: try again */
    } else {
      return fail("publish", s);
    }
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = 60000;
  s = js_PublishAsyncComplete(js, &po);
  const double elapsed = now_seconds() - start;
  if (s != NATS_OK) return fail("waiting for acknowledgements", s);

  const unsigned long long acked = atomic_load(&g_acked), failed = atomic_load(&g_failed);
  printf("{\"bench\":\"nats_pub\",\"record_bytes\":%d,\"max_pending\":%lld,\"published\":%llu,"
         "\"records\":%llu,\"bytes\":%llu,\"errors\":%llu,\"stalls\":%llu,\"seconds\":%.6f,"
         "\"records_per_s\":%.1f,\"mb_per_s\":%.3f}\n",
         size, max_pending, published, acked, acked * (unsigned long long)size, failed, stalls,
         elapsed, acked / elapsed, acked * (double)size / 1e6 / elapsed);
  free(payload);
  jsCtx_Destroy(js);
  natsConnection_Destroy(nc);
  nats_Close();
  return failed > 0 || acked == 0 ? 1 : 0;
}

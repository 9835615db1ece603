/*
 * A lean load generator for `./companion bench clients --client native`: N streaming HTTP/1.1 requests at once, each
 * on its own new connection to HOST:PORT, one thread and epoll, so that on a 2-core machine the clients take as
 * little as they can of the cores the node serves from (the JVM client takes about 0.45 ms of CPU a stream).
 *
 * Usage: sse-clients HOST PORT PATH CLIENTS SEED_BASE TIMEOUT_S BODY
 *   BODY is the request's JSON, a printf format: "%1$d" where each client's number goes (SEED_BASE + i, its seed),
 *   "%%" for a percent sign.
 * Output, one line per stream, times in ns after the wave began (0: did not happen):
 *   i connected headers first_token end tokens finish|- error|-
 * tokens: the usage chunk's completion_tokens, else the chunks with text. Then "# cpu_ms N": this process's user +
 * system CPU. Exit status 0 when every line was written.
 *
 * What it reads of the stream is the gateway's own layout (compact JSON as Jackson writes it): a chunk's text is
 * in "choices":[{"text":"...", a finish in "finish_reason":"...", usage in "completion_tokens":N, and an error
 * event begins {"error". A stream whose layout it does not know ends without a finish and counts as an error, so a
 * change of layout cannot pass unseen; the JVM client (--client vertx) parses each chunk as JSON.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  int fd;
  char *req;
  size_t req_len, req_sent;
  char *buf;           /* bytes read and not yet consumed */
  size_t len, cap;
  int state;           /* 0 connecting, 1 headers, 2 chunk size, 3 chunk data, 4 chunk CRLF, 5 done */
  size_t chunk_left;
  char *sse;           /* decoded body not yet split into events */
  size_t sse_len, sse_cap;
  long long connected, headers, first, end;
  int tokens, usage_tokens, done;
  char finish[32];
  char error[200];
} conn;

static long long t0;

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec - t0;
}

static void append(char **b, size_t *len, size_t *cap, const char *src, size_t n) {
  if (*len + n + 1 > *cap) {
    size_t c = *cap ? *cap : 1024;
    while (c < *len + n + 1) c *= 2;
    *b = realloc(*b, c);
    *cap = c;
  }
  memcpy(*b + *len, src, n);
  *len += n;
  (*b)[*len] = 0;
}

static void fail(conn *c, const char *why) {
  if (!c->error[0]) snprintf(c->error, sizeof c->error, "%s", why);
  if (!c->end) c->end = now_ns();
  c->state = 5;
}

/* One SSE event, NUL-terminated. */
static void event(conn *c, char *e) {
  if (strncmp(e, "data: ", 6) != 0) return;
  e += 6;
  if (strcmp(e, "[DONE]") == 0) {
    c->done = 1;
    return;
  }
  if (strncmp(e, "{\"error\"", 8) == 0) {
    char *m = strstr(e, "\"message\":\"");
    char msg[160] = "error event";
    if (m) {
      m += 11;
      size_t k = 0;
      while (m[k] && m[k] != '"' && k < sizeof msg - 1) { msg[k] = m[k]; k++; }
      msg[k] = 0;
    }
    fail(c, msg);
    return;
  }
  char *t = strstr(e, "\"choices\":[{\"text\":\"");
  if (t && t[20] != '"') {
    if (!c->first) c->first = now_ns();
    c->tokens++;
  }
  char *f = strstr(e, "\"finish_reason\":\"");
  if (f) {
    f += 17;
    size_t k = 0;
    while (f[k] && f[k] != '"' && k < sizeof c->finish - 1) { c->finish[k] = f[k]; k++; }
    c->finish[k] = 0;
  }
  char *u = strstr(e, "\"completion_tokens\":");
  if (u) c->usage_tokens = atoi(u + 20);
}

static void body(conn *c, const char *p, size_t n) {
  append(&c->sse, &c->sse_len, &c->sse_cap, p, n);
  size_t from = 0;
  for (;;) {
    char *end = memmem(c->sse + from, c->sse_len - from, "\n\n", 2);
    if (!end) break;
    *end = 0;
    event(c, c->sse + from);
    from = (size_t)(end - c->sse) + 2;
  }
  memmove(c->sse, c->sse + from, c->sse_len - from);
  c->sse_len -= from;
}

/* Consumes what can be consumed of c->buf: the headers, then the chunked body. */
static void parse(conn *c) {
  size_t at = 0;
  while (c->state != 5) {
    if (c->state == 1) {
      char *h = memmem(c->buf + at, c->len - at, "\r\n\r\n", 4);
      if (!h) break;
      int status = atoi(c->buf + at + 9);
      if (status != 200) {
        char why[200];
        snprintf(why, sizeof why, "HTTP %d", status);
        fail(c, why);
        break;
      }
      c->headers = now_ns();
      at = (size_t)(h - c->buf) + 4;
      c->state = 2;
    } else if (c->state == 2) {
      char *nl = memmem(c->buf + at, c->len - at, "\r\n", 2);
      if (!nl) break;
      c->chunk_left = strtoul(c->buf + at, NULL, 16);
      at = (size_t)(nl - c->buf) + 2;
      if (c->chunk_left == 0) {
        c->end = now_ns();
        c->state = 5;
      } else {
        c->state = 3;
      }
    } else if (c->state == 3) {
      size_t n = c->len - at < c->chunk_left ? c->len - at : c->chunk_left;
      if (n == 0) break;
      body(c, c->buf + at, n);
      at += n;
      c->chunk_left -= n;
      if (c->chunk_left == 0) c->state = 4;
    } else if (c->state == 4) {
      if (c->len - at < 2) break;
      at += 2;
      c->state = 2;
    }
  }
  memmove(c->buf, c->buf + at, c->len - at);
  c->len -= at;
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: sse-clients HOST PORT PATH CLIENTS SEED_BASE TIMEOUT_S BODY\n");
    return 2;
  }
  const char *host = argv[1], *path = argv[3], *body_fmt = argv[7];
  int port = atoi(argv[2]), n = atoi(argv[4]);
  long seed_base = atol(argv[5]);
  long long timeout = atoll(argv[6]) * 1000000000LL;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1 || n < 1) {
    fprintf(stderr, "bad host or client count\n");
    return 2;
  }
  conn *cs = calloc(n, sizeof(conn));
  int ep = epoll_create1(0);
  t0 = 0;
  t0 = now_ns();
  int open = 0;
  for (int i = 0; i < n; i++) {
    conn *c = &cs[i];
    char b[4096];
    int bl = snprintf(b, sizeof b, body_fmt, (int)(seed_base + i));
    c->req = malloc(bl + 512);
    c->req_len = snprintf(c->req, bl + 512, "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
        "Content-Length: %d\r\n\r\n%s", path, host, port, bl, b);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (c->fd < 0) { fail(c, strerror(errno)); continue; }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) {
      fail(c, strerror(errno));
      close(c->fd);
      continue;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (unsigned)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    open++;
  }
  struct epoll_event evs[256];
  char rb[65536];
  while (open > 0) {
    long long left = timeout - now_ns();
    if (left <= 0) break;
    int k = epoll_wait(ep, evs, 256, (int)(left / 1000000) + 1);
    if (k < 0 && errno == EINTR) continue;
    for (int j = 0; j < k; j++) {
      conn *c = &cs[evs[j].data.u32];
      if (c->state == 5) continue;
      if (c->state == 0) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
          fail(c, strerror(err));
        } else {
          if (!c->connected) c->connected = now_ns();
          ssize_t w = write(c->fd, c->req + c->req_sent, c->req_len - c->req_sent);
          if (w > 0) c->req_sent += (size_t)w;
          else if (w < 0 && errno != EAGAIN) fail(c, strerror(errno));
          if (c->req_sent == c->req_len) {
            c->state = 1;
            struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[j].data.u32};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
          }
        }
      } else {
        for (;;) {
          ssize_t r = read(c->fd, rb, sizeof rb);
          if (r > 0) {
            append(&c->buf, &c->len, &c->cap, rb, (size_t)r);
            parse(c);
            if (c->state == 5) break;
            continue;
          }
          if (r == 0) fail(c, "connection closed before the end of the stream");
          else if (errno != EAGAIN && errno != EWOULDBLOCK) fail(c, strerror(errno));
          break;
        }
      }
      if (c->state == 5) {
        close(c->fd);
        open--;
      }
    }
  }
  for (int i = 0; i < n; i++) {
    conn *c = &cs[i];
    if (c->state != 5 && !c->error[0]) snprintf(c->error, sizeof c->error, "not finished within the timeout");
    else if (!c->error[0] && !c->done) snprintf(c->error, sizeof c->error, "stream ended without [DONE]");
    else if (!c->error[0] && !c->finish[0]) snprintf(c->error, sizeof c->error, "stream ended without a finish");
    for (char *p = c->error; *p; p++) if (*p == ' ') *p = '_';
    printf("%d %lld %lld %lld %lld %d %s %s\n", i, c->connected, c->headers, c->first, c->end,
           c->usage_tokens ? c->usage_tokens : c->tokens, c->finish[0] ? c->finish : "-",
           c->error[0] ? c->error : "-");
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("# cpu_ms %ld\n", (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000L
         + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000L);
  return 0;
}

package ai.companion.gateway.security;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;

/**
 * Per-key request rate (a token bucket: {@code burst} requests at once, refilled at {@code ratePerMinute}) and
 * concurrent generations. Thread-safe: the HTTP, WebSocket and gRPC servers may run on several event loops.
 */
public final class KeyLimits {

  private final double refillPerNano;
  private final int burst;
  private final int maxStreams;
  private final LongSupplier clock;
  private final ConcurrentHashMap<String, Bucket> buckets = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, AtomicInteger> streams = new ConcurrentHashMap<>();

  public KeyLimits(SecurityOptions options) {
    this(options, System::nanoTime);
  }

  KeyLimits(SecurityOptions options, LongSupplier nanoClock) {
    this.refillPerNano = options.getRatePerMinute() / 60e9;
    this.burst = options.getBurst();
    this.maxStreams = options.getMaxConcurrentStreams();
    this.clock = nanoClock;
  }

  /** Takes one request from the key's bucket: 0 when allowed, else the whole seconds to wait (at least 1). */
  public long tryAcquireRequest(String keyId) {
    Bucket b = buckets.computeIfAbsent(keyId, k -> new Bucket(burst, clock.getAsLong()));
    synchronized (b) {
      long now = clock.getAsLong();
      b.tokens = Math.min(burst, b.tokens + (now - b.at) * refillPerNano);
      b.at = now;
      if (b.tokens >= 1) {
        b.tokens -= 1;
        return 0;
      }
      double waitNanos = (1 - b.tokens) / refillPerNano;
      return Math.max(1, (long) Math.ceil(waitNanos / 1e9));
    }
  }

  /** Takes a generation slot; false when the key already runs {@code maxConcurrentStreams}. */
  public boolean tryAcquireStream(String keyId) {
    AtomicInteger n = streams.computeIfAbsent(keyId, k -> new AtomicInteger());
    while (true) {
      int cur = n.get();
      if (cur >= maxStreams) return false;
      if (n.compareAndSet(cur, cur + 1)) return true;
    }
  }

  public void releaseStream(String keyId) {
    AtomicInteger n = streams.get(keyId);
    if (n != null) n.updateAndGet(v -> Math.max(0, v - 1));
  }

  public int activeStreams(String keyId) {
    AtomicInteger n = streams.get(keyId);
    return n == null ? 0 : n.get();
  }

  public int maxStreams() { return maxStreams; }

  private static final class Bucket {
    double tokens;
    long at;

    Bucket(double tokens, long at) {
      this.tokens = tokens;
      this.at = at;
    }
  }
}

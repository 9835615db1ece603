package ai.companion.worker.impl;

import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * Whether requests now arrive as a burst: at least {@link #FACTOR} times as fast as they came over the few seconds
 * before it. Prefill first pays off for a wave of clients (2000 within a few hundred milliseconds, after a quiet
 * spell or after the wave before) and costs steady traffic: holding the running streams for every arrival less than
 * the burst gap after the one before made the node fall behind at 800 requests a second on 2 cores
 * (docs/benchmarks.md, "Arrivals at a steady rate"), because at such rates most arrivals are that close. Steady
 * traffic's bursts come about as fast as its average; a wave many times faster than the average around it, even
 * when waves follow one another back to back (their average is a few hundred a second, their pace thousands).
 *
 * <p>A burst here: arrivals each less than the gap after the one before (by when they were submitted, not when the
 * decode thread took them in). Its pace: its arrivals over its length, or over {@link #MIN_SPAN_NANOS} while it is
 * shorter, so that arrivals close together by chance, or bunched by a pause of the node (a collection, a busy core:
 * at 800 a second a 100 ms stall lets 80 in at once), do not read as thousands a second: a stall must last about
 * {@link #FACTOR} x that span before the bunch after it counts. The rate before it: the arrivals in the
 * {@link #HISTORY_BUCKETS} buckets of 100 ms before the one the burst began in, over the time from the oldest of
 * them to that bucket.
 *
 * <p>Decode thread only; every time is a {@link System#nanoTime()} passed in.
 */
final class ArrivalPace {
  /** A burst is one when it arrives at least this many times as fast as requests came before it. */
  static final int FACTOR = 2;
  /** A shorter burst's pace, and the rate before it, are taken over at least this span. */
  static final long MIN_SPAN_NANOS = TimeUnit.MILLISECONDS.toNanos(150);
  /** A burst longer than this (1 s) is judged by its last second. */
  static final long MAX_BURST_NANOS = TimeUnit.SECONDS.toNanos(1);
  /** The rate before a burst is taken over at most this many 100 ms buckets (3 s). */
  static final int HISTORY_BUCKETS = 30;
  private static final long BUCKET_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

  private final long gapNanos;
  private long lastArrival = Long.MIN_VALUE / 2;
  private long burstStart;
  private int burstArrivals;
  // arrivals per 100 ms bucket, the history and the current one; stamps[i] is the bucket number counts[i] holds
  private final int[] counts = new int[HISTORY_BUCKETS + 1];
  private final long[] stamps = new long[HISTORY_BUCKETS + 1];

  ArrivalPace(long gapNanos) {
    if (gapNanos <= 0) throw new IllegalArgumentException("gap must be positive, got " + gapNanos);
    this.gapNanos = gapNanos;
    Arrays.fill(stamps, Long.MIN_VALUE);
  }

  /** A request arrived (was submitted) at {@code at}. */
  void arrived(long at) {
    if (at - lastArrival >= gapNanos) {
      burstStart = at;
      burstArrivals = 0;
    }
    burstArrivals++;
    lastArrival = Math.max(lastArrival, at);
    long bucket = Math.floorDiv(at, BUCKET_NANOS);
    int i = (int) Math.floorMod(bucket, (long) counts.length);
    if (stamps[i] != bucket) {
      stamps[i] = bucket;
      counts[i] = 0;
    }
    counts[i]++;
  }

  /** When the last request arrived (was submitted); long before any time when none has. */
  long lastArrival() {
    return lastArrival;
  }

  /**
   * Requests a second before bucket {@code first}: over the {@link #HISTORY_BUCKETS} before it, from the oldest that
   * holds any to {@code first}; 0 when none does.
   */
  double rateBefore(long first) {
    int n = 0;
    long oldest = first;
    for (int i = 0; i < counts.length; i++) {
      if (stamps[i] < first && stamps[i] >= first - HISTORY_BUCKETS) {
        n += counts[i];
        oldest = Math.min(oldest, stamps[i]);
      }
    }
    if (n == 0) return 0;
    return n * 1e9 / Math.max((first - oldest) * BUCKET_NANOS, MIN_SPAN_NANOS);
  }

  /** Requests a second before the current burst began. */
  double rateBefore() {
    return rateBefore(Math.floorDiv(burstStart, BUCKET_NANOS));
  }

  /**
   * Whether the current burst (two arrivals or more) comes at least {@link #FACTOR} times as fast as requests came
   * before it. A burst longer than {@link #MAX_BURST_NANOS} is traffic that never paused for the gap (above about
   * 600 a second, Poisson arrivals rarely do): its last second against the seconds before. Whether the burst is still
   * on (its last arrival less than the gap ago) is the caller's to judge.
   */
  boolean outpaces() {
    if (burstArrivals < 2) return false;
    long length = lastArrival - burstStart;
    if (length <= MAX_BURST_NANOS) {
      return burstArrivals * 1e9 / Math.max(length, MIN_SPAN_NANOS) >= FACTOR * rateBefore();
    }
    long last = Math.floorDiv(lastArrival, BUCKET_NANOS);
    long first = last - (MAX_BURST_NANOS / BUCKET_NANOS - 1);
    int n = 0;
    for (int i = 0; i < counts.length; i++) if (stamps[i] >= first && stamps[i] <= last) n += counts[i];
    return n * 1e9 / (lastArrival - first * BUCKET_NANOS) >= FACTOR * rateBefore(first);
  }
}

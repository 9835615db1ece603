package ai.companion.bench.impl;

import java.util.ArrayList;
import java.util.List;

/**
 * Arrival times of one stream's tokens, measured where the client sees them. TTFT: from the request to the first
 * token; decode tokens/s: tokens after the first event, per second after the first event (the same definition as
 * bench/js/tjs-generate.mjs, so the figures compare).
 */
public final class Timeline {
  private final long startNs;
  private final List<long[]> events = new ArrayList<>();   // {nanoTime, tokens}
  private int totalTokens;
  private String finishReason;
  private String error;
  private long endNs;
  private long headersNs;
  private long connectedNs;

  public Timeline(long startNs) {
    this.startNs = startNs;
  }

  /** HTTP: the client has its connection and is about to write the request. */
  public synchronized void connected(long ns) {
    connectedNs = ns;
  }

  /** Milliseconds from the request to its connection, NaN where none was recorded. */
  public synchronized double connectedMs() {
    return connectedNs == 0 ? Double.NaN : (connectedNs - startNs) / 1e6;
  }

  /** Milliseconds from the connection (the request written) to the first token, NaN where either is missing. */
  public synchronized double ttftAfterConnectMs() {
    return connectedNs == 0 || events.isEmpty() ? Double.NaN : (events.get(0)[0] - connectedNs) / 1e6;
  }

  /** HTTP: the response headers arrived (the gateway answers them once a worker accepted the request). */
  public synchronized void headers(long ns) {
    headersNs = ns;
  }

  /** Milliseconds from the request to the response headers, NaN where none were recorded. */
  public synchronized double headersMs() {
    return headersNs == 0 ? Double.NaN : (headersNs - startNs) / 1e6;
  }

  public synchronized void tokens(long ns, int n) {
    if (n <= 0) return;
    events.add(new long[] {ns, n});
    totalTokens += n;
  }

  /** Overrides the token count (HTTP: the usage figure, where a chunk may carry more than one token). */
  public synchronized void totalTokens(int n) {
    totalTokens = n;
  }

  public synchronized void finish(long ns, String reason) {
    endNs = ns;
    finishReason = reason;
  }

  public synchronized void fail(long ns, String message) {
    endNs = ns;
    error = message;
  }

  public synchronized int tokens() { return totalTokens; }
  public synchronized String finishReason() { return finishReason; }
  public synchronized String error() { return error; }
  public synchronized boolean ok() { return error == null && finishReason != null; }
  public long startNs() { return startNs; }
  public synchronized long endNs() { return endNs; }

  public synchronized double ttftMs() {
    return events.isEmpty() ? Double.NaN : (events.get(0)[0] - startNs) / 1e6;
  }

  public synchronized double decodeTps() {
    if (events.size() < 2) return Double.NaN;
    long first = events.get(0)[0];
    long last = events.get(events.size() - 1)[0];
    int after = totalTokens - (int) events.get(0)[1];
    return last == first ? Double.NaN : after / ((last - first) / 1e9);
  }

  /** Mean time between tokens after the first, in ms. */
  public synchronized double msPerToken() {
    double tps = decodeTps();
    return Double.isNaN(tps) ? Double.NaN : 1000.0 / tps;
  }
}

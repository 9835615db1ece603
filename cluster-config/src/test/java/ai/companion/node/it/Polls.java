package ai.companion.node.it;

import java.util.concurrent.Callable;

/** Deadline-bounded "eventually": retries until the call returns without throwing, or the deadline passes. */
public final class Polls {
  private Polls() {}

  public static <T> T eventually(long timeoutMs, Callable<T> call) throws Exception {
    long deadline = System.currentTimeMillis() + timeoutMs;
    Exception last;
    do {
      try {
        return call.call();
      } catch (Exception | AssertionError e) {
        last = e instanceof Exception ex ? ex : new Exception(e);
      }
      Thread.sleep(100);
    } while (System.currentTimeMillis() < deadline);
    throw new AssertionError("not within " + timeoutMs + " ms: " + last, last);
  }
}

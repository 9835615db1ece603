package ai.companion.worker.impl;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Flow control of one stream. Every {@link #CHECKPOINT_EVERY}th event goes out as a request that the consumer
 * answers once it has delivered the event (the gateway does so when its client keeps up); with {@link #WINDOW}
 * checkpoints unanswered the sequence is parked (its cache set aside, out of the batch) until half of them are
 * answered. A slow client therefore slows its own stream only, and never grows the bus buffers without bound.
 *
 * <p>A consumer that never answers (a plain stream listener) is never throttled: flow control arms itself with the
 * first answer, so only consumers that speak this protocol are held to it. An unanswered checkpoint counts back
 * once its request times out.
 *
 * <p>Thread-safe: the event loop answers, the decode thread reads.
 */
public final class StreamCredit {
  /** Events between two checkpoints. */
  public static final int CHECKPOINT_EVERY = 8;
  /** Unanswered checkpoints that park the sequence. */
  public static final int WINDOW = 4;

  private final AtomicInteger outstanding = new AtomicInteger();
  private volatile boolean armed;
  private volatile Runnable onReturn = () -> {};

  /** Whether the event with this seq should be a checkpoint. */
  public static boolean checkpoint(long seq) {
    return seq % CHECKPOINT_EVERY == CHECKPOINT_EVERY - 1;
  }

  /** A checkpoint went out. */
  public void sent() {
    outstanding.incrementAndGet();
  }

  /** The consumer answered a checkpoint: it delivered everything up to it. */
  public void answered() {
    armed = true;
    returned();
  }

  /** A checkpoint got no answer (timeout, failure): it no longer counts. */
  public void returned() {
    outstanding.decrementAndGet();
    onReturn.run();
  }

  boolean exhausted() {
    return armed && outstanding.get() >= WINDOW;
  }

  boolean refilled() {
    return outstanding.get() <= WINDOW / 2;
  }

  int outstanding() {
    return outstanding.get();
  }

  void onReturn(Runnable r) {
    onReturn = r;
  }
}

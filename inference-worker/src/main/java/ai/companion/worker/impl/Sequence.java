package ai.companion.worker.impl;

import ai.companion.api.ErrorCode;
import ai.companion.api.StreamEvent;
import java.util.ArrayList;
import java.util.List;

/**
 * One generation in flight: its tokens, sampler, text streamer and cache position, and the events it sends.
 * Touched only by the model's decode thread, except {@link #cancel()}.
 */
public final class Sequence {
  private final String requestId;
  private final String workerId;
  private final EventSink sink;
  private final int[] context;          // prompt ids (BOS first), then resumed ids
  private final int promptTokens;
  private final int maxCompletion;      // completion tokens allowed, resumed ones included
  private final int contextLength;
  private final ModelConfig config;
  private final Sampler sampler;
  private final TextStreamer streamer;
  private final boolean[] seen;         // tokens in the sequence, for the repetition penalty; null when none
  private final long kvReservation;
  private final StreamCredit credit;     // null: no flow control (in-process callers)

  private int generated;                // completion tokens so far, resumed ones included
  private int cached;                   // tokens in the key/value cache
  private int nextToken;                // the token the next decode step feeds
  private KvCache ownCache;             // after prefill, until the sequence joins the batch (shared by its group)
  private int cacheRow;                 // this sequence's row in ownCache
  private long eventSeq;
  private volatile boolean cancelled;
  private boolean finished;
  private String finishReason;
  private long submittedNanos;          // when DecodeScheduler.submit queued it (its queue hands it to the decode thread)

  Sequence(String requestId, String workerId, EventSink sink, int[] context, int promptTokens, int maxCompletion,
           ModelConfig config, Sampler sampler, TextStreamer streamer, boolean useSeen, long kvReservation,
           StreamCredit credit) {
    this.credit = credit;
    this.requestId = requestId;
    this.workerId = workerId;
    this.sink = sink;
    this.context = context;
    this.promptTokens = promptTokens;
    this.maxCompletion = maxCompletion;
    this.contextLength = config.contextLength();
    this.config = config;
    this.sampler = sampler;
    this.streamer = streamer;
    this.kvReservation = kvReservation;
    this.generated = context.length - promptTokens;
    if (useSeen) {
      seen = new boolean[config.vocabSize()];
      for (int t : context) if (t >= 0 && t < seen.length) seen[t] = true;
    } else {
      seen = null;
    }
  }

  public String requestId() { return requestId; }
  public int promptTokens() { return promptTokens; }
  public int generated() { return generated; }
  public boolean finished() { return finished; }
  public String finishReason() { return finishReason; }
  public String text() { return streamer.text(); }
  int[] context() { return context; }
  int cached() { return cached; }
  int nextToken() { return nextToken; }
  KvCache ownCache() { return ownCache; }
  int cacheRow() { return cacheRow; }
  long kvReservation() { return kvReservation; }
  long submittedNanos() { return submittedNanos; }
  void submittedNanos(long nanos) { submittedNanos = nanos; }

  /** Tokens still to make at most (for load figures). */
  long outstanding() { return finished ? 0 : Math.max(0, maxCompletion - generated); }

  /** Any thread: stop at the next step. */
  public void cancel() { cancelled = true; }

  boolean cancelled() { return cancelled; }

  /** The consumer is behind: too many checkpoints unanswered. */
  boolean blocked() { return credit != null && credit.exhausted(); }

  /** The consumer caught up enough to go on. */
  boolean unblocked() { return credit == null || credit.refilled(); }

  /** Parked: its cache rows moved into {@code cache} (row 0); the count of cached tokens stays. */
  void parked(KvCache cache) {
    ownCache = cache;
    cacheRow = 0;
  }

  /** Prefilled as row {@code row} of a group cache (the scheduler owns and closes the cache). */
  void prefilled(KvCache cache, int row) {
    ownCache = cache;
    cacheRow = row;
    cached = context.length;
  }

  void joinedBatch() { ownCache = null; }

  void cachedOneMore() { cached++; }

  /** Nothing may be generated at all (max_tokens 0, or resumed tokens already fill the allowance or the context). */
  boolean exhausted() {
    return generated >= maxCompletion || promptTokens + generated >= contextLength;
  }

  /** Samples from one row of logits and takes the token. */
  void sampleAndAccept(float[] logits, int offset, Sampler.Scratch scratch) {
    accept(sampler.sample(logits, offset, config.vocabSize(), seen, scratch));
  }

  /** Takes one generated token: streams its text, or ends the sequence (EOS, stop sequence, max_tokens, context). */
  void accept(int token) {
    generated++;
    if (config.isEos(token)) {
      finish("stop");
      return;
    }
    if (seen != null && token >= 0 && token < seen.length) seen[token] = true;
    TextStreamer.Chunk chunk = streamer.push(token);
    if (streamer.stopped()) {
      finish("stop", chunk);
      return;
    }
    if (exhausted()) {
      TextStreamer.Chunk rest = streamer.finish();
      finish("length", concat(chunk, rest));
      return;
    }
    if (!chunk.isEmpty()) send(StreamEvent.token(requestId, eventSeq++, chunk.text(), ids(chunk.tokenIds()), workerId));
    nextToken = token;
  }

  /** Ends the stream with DONE; held-back text goes with it. */
  void finish(String reason) {
    finish(reason, streamer.stopped() ? TextStreamer.Chunk.EMPTY : streamer.finish());
  }

  private void finish(String reason, TextStreamer.Chunk last) {
    if (finished) return;
    finished = true;
    finishReason = reason;
    send(StreamEvent.done(requestId, eventSeq++, last.text(), ids(last.tokenIds()), reason, promptTokens, generated,
        workerId));
    release();
  }

  /** Ends the stream with ERROR. */
  void fail(ErrorCode code, String message) {
    if (finished) return;
    finished = true;
    finishReason = "error";
    send(StreamEvent.error(requestId, eventSeq++, code, message, workerId));
    release();
  }

  private void release() {
    ownCache = null;     // a group cache is closed by the scheduler once its rows are copied or adopted
  }

  private void send(StreamEvent e) {
    sink.accept(e);
  }

  private static TextStreamer.Chunk concat(TextStreamer.Chunk a, TextStreamer.Chunk b) {
    if (a.isEmpty()) return b;
    if (b.isEmpty()) return a;
    int[] ids = new int[a.tokenIds().length + b.tokenIds().length];
    System.arraycopy(a.tokenIds(), 0, ids, 0, a.tokenIds().length);
    System.arraycopy(b.tokenIds(), 0, ids, a.tokenIds().length, b.tokenIds().length);
    return new TextStreamer.Chunk(a.text() + b.text(), ids);
  }

  private static List<Integer> ids(int[] a) {
    List<Integer> l = new ArrayList<>(a.length);
    for (int x : a) l.add(x);
    return l;
  }
}

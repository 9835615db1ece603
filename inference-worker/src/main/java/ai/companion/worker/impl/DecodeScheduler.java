package ai.companion.worker.impl;

import ai.companion.api.ErrorCode;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The decode loop of one model, on its own thread (ordered: one session step at a time; ONNX Runtime is never run
 * on an event loop). Each turn it prefills the sequences admitted since the last turn (in left-padded groups; the
 * first token of each comes out of its prefill), then runs one decode step for the whole running batch: requests
 * join and leave at token granularity (continuous batching). A prompt too long to prefill within
 * {@link Limits#prefillSliceMs} runs one slice a turn instead, so the running streams step between its slices.
 * With the standard graph newcomers join the batch in bunches and finished rows are dropped lazily, because each
 * change of membership copies the batch cache; with the in-place graph a change copies only the rows that move, so
 * both happen at the next step.
 *
 * <p>Admission: at most {@code maxConcurrent} sequences run, and their key/value caches (reserved for prompt +
 * max_tokens, and counted as the padded batch cache they make: rows x the largest reservation) stay within
 * {@code kvBudgetBytes}; the rest wait in a queue of at most {@code maxQueued}, past which {@link #submit} refuses
 * with {@link ErrorCode#OVERLOADED}.
 */
public final class DecodeScheduler implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(DecodeScheduler.class);

  /**
   * Limits of one model's scheduler. {@code prefillFirstMs}: while requests keep arriving, decode steps of the
   * running batch wait up to this long so that the newcomers' prefills (and first tokens) go first; 0 never waits.
   * {@code arrivalGapMs}: two arrivals less than this apart begin a burst, a pause this long ends it.
   * {@code prefillSliceMs}: a prompt whose prefill would take longer runs in slices of about this long, one per turn
   * of the loop, the running streams stepping between them (0: every prompt at once).
   */
  public record Limits(int maxConcurrent, int maxQueued, long kvBudgetBytes, long prefillFirstMs, long arrivalGapMs,
                       long prefillSliceMs) {
    /** A pause of 5 ms ends a burst: well above the spacing of a client's parallel requests on a LAN. */
    public static final long DEFAULT_ARRIVAL_GAP_MS = 5;
    /**
     * A long prompt's prefill holds the running streams for about this long at a time (docs/benchmarks.md, "A
     * long prompt in slices").
     */
    public static final long DEFAULT_PREFILL_SLICE_MS = 100;

    public Limits {
      if (arrivalGapMs <= 0) throw new IllegalArgumentException("arrivalGapMs must be positive, got " + arrivalGapMs);
      if (prefillSliceMs < 0) throw new IllegalArgumentException("prefillSliceMs must be >= 0, got " + prefillSliceMs);
    }

    public Limits(int maxConcurrent, int maxQueued, long kvBudgetBytes, long prefillFirstMs, long arrivalGapMs) {
      this(maxConcurrent, maxQueued, kvBudgetBytes, prefillFirstMs, arrivalGapMs, DEFAULT_PREFILL_SLICE_MS);
    }

    public Limits(int maxConcurrent, int maxQueued, long kvBudgetBytes, long prefillFirstMs) {
      this(maxConcurrent, maxQueued, kvBudgetBytes, prefillFirstMs, DEFAULT_ARRIVAL_GAP_MS);
    }

    public Limits(int maxConcurrent, int maxQueued, long kvBudgetBytes) {
      this(maxConcurrent, maxQueued, kvBudgetBytes, 0);
    }
  }

  private final OnnxDecoder decoder;
  private final Limits limits;
  private final Runnable onLoadChange;
  private final LinkedBlockingQueue<Object> incoming = new LinkedBlockingQueue<>();
  private final ConcurrentHashMap<String, Sequence> byRequest = new ConcurrentHashMap<>();
  private final AtomicInteger waitingCount = new AtomicInteger();
  private final Thread thread;
  private volatile boolean closed;
  private volatile int activeCount;
  private volatile int parkedCount;
  private volatile long outstandingTokens;
  private volatile int peakBatch;
  private volatile int peakPrefillGroup;

  // decode thread only
  private final ArrayDeque<Sequence> waiting = new ArrayDeque<>();
  private final DecodeBatch batch;
  private final Sampler.Scratch scratch;
  private float[] logits;
  private final List<KvCache> groupCaches = new ArrayList<>();
  private final List<Sequence> pending = new ArrayList<>();   // prefilled (first token out), not yet in the batch
  private final List<Sequence> parked = new ArrayList<>();    // consumer behind: cache set aside, out of the batch
  // admitted prompts too long to prefill at once: one of them runs a slice per turn, the running streams step between
  private final ArrayDeque<Sequence> toSlice = new ArrayDeque<>();
  private Sequence slicing;
  private OnnxDecoder.PartialPrefill partial;
  private double sliceNanosPerToken;     // measured on the slices so far (0: none yet)
  private int stepsSinceRebuild;
  private long idleSince = -1;
  private long holdingSince = -1;
  // the share of about the last second that decode steps were held (an exponential average, time constant 1 s)
  private double heldShare;
  private long heldShareAt = -1;
  private static final double HELD_SHARE_NANOS = 1e9;
  /**
   * Prefill first holds decode steps at most this share of the time: a 300 ms hold from none is 0.26 (a wave's
   * arrivals take about that long), so a wave is held, and steady traffic taken for a burst is not held into a
   * backlog.
   */
  static final double MAX_HELD_SHARE = 0.3;
  private volatile double maxHeldShare = MAX_HELD_SHARE;
  private boolean arrivedThisTurn;
  // a pause this long between two arrivals ends a burst: the held decode steps go on
  private final long arrivalGapNanos;
  // how fast a burst arrives against the arrivals before it: only a burst many times faster holds steps
  private final ArrivalPace pace;
  // the batch's cache buffers stay across short gaps between bursts and go after this long without work
  private static final long IDLE_RELEASE_NANOS = TimeUnit.SECONDS.toNanos(10);
  private static final int JOIN_EVERY_STEPS = 4;
  private long reservedKv;
  private volatile long tokensOut;
  private volatile long steps;

  public DecodeScheduler(OnnxDecoder decoder, Limits limits, Runnable onLoadChange) {
    this(decoder, limits, onLoadChange, "");
  }

  /** {@code lane}: a suffix for the thread's name ("decode-MODEL" + lane). */
  public DecodeScheduler(OnnxDecoder decoder, Limits limits, Runnable onLoadChange, String lane) {
    this.decoder = decoder;
    this.limits = limits;
    this.arrivalGapNanos = TimeUnit.MILLISECONDS.toNanos(limits.arrivalGapMs());
    this.pace = new ArrivalPace(arrivalGapNanos);
    this.onLoadChange = onLoadChange;
    this.batch = new DecodeBatch(decoder);
    this.scratch = new Sampler.Scratch(decoder.config().vocabSize());
    this.logits = new float[decoder.config().vocabSize()];
    this.thread = new Thread(this::loop, "decode-" + decoder.config().id() + lane);
    this.thread.setDaemon(true);
    this.thread.start();
  }

  /** Queues a sequence; refuses with OVERLOADED when the queue is full. Any thread. */
  public void submit(Sequence s) {
    if (closed) throw ErrorCode.WORKER_LOST.exception("worker is stopping");
    if (waitingCount.incrementAndGet() > limits.maxQueued() + Math.max(0, limits.maxConcurrent() - activeCount)) {
      waitingCount.decrementAndGet();
      throw ErrorCode.OVERLOADED.exception("model " + decoder.config().id() + " is at capacity (" + activeCount
          + " sequences running, " + limits.maxQueued() + " queued); retry later");
    }
    byRequest.put(s.requestId(), s);
    s.submittedNanos(System.nanoTime());
    incoming.add(s);
  }

  /** Any thread: the sequence stops at the next step, if it runs here. */
  public boolean cancel(String requestId) {
    Sequence s = byRequest.get(requestId);
    if (s == null) return false;
    s.cancel();
    incoming.add(WAKE);
    return true;
  }

  /** Any thread: look again (a parked stream's consumer answered). */
  public void wake() {
    incoming.add(WAKE);
  }

  public int active() { return activeCount; }

  public Limits limits() { return limits; }

  /** Streams parked because their consumers are behind. */
  public int parked() { return parkedCount; }

  public int queued() { return Math.max(0, waitingCount.get()); }

  /** Sequences this scheduler holds, from {@link #submit} until they end: queued, running and parked. Any thread. */
  public int load() { return byRequest.size(); }

  public long outstandingTokens() { return outstandingTokens; }

  // a marker that only wakes the loop
  private static final Object WAKE = new Object();

  private void loop() {
    while (!closed) {
      try {
        // parked streams wait for a wake (their consumer answered), which arrives through the queue
        boolean idle = batch.size() == 0 && waiting.isEmpty() && pending.isEmpty() && slicedPrompts() == 0;
        arrivedThisTurn = false;
        Object in = idle ? incoming.poll(1, TimeUnit.SECONDS)
            : holdsDecode(System.nanoTime()) ? incoming.poll(arrivalGapNanos, TimeUnit.NANOSECONDS)
            : incoming.poll();
        if (!idle || in != null || !parked.isEmpty()) {
          idleSince = -1;
        } else if (idleSince < 0) {
          idleSince = System.nanoTime();
        } else if (System.nanoTime() - idleSince > IDLE_RELEASE_NANOS) {
          batch.releaseIdleBuffers();
        }
        while (in != null) {
          if (in instanceof Sequence s) {
            waiting.add(s);
            arrivedThisTurn = true;
            pace.arrived(s.submittedNanos());
          }
          in = incoming.poll();
        }
        dropCancelled();
        admitAndPrefill();
        unpark();
        List<Sequence> park = new ArrayList<>();
        for (Sequence s : batch.members()) if (!s.finished() && s.blocked()) park.add(s);
        int live = liveMembers() - park.size();
        int dead = batch.size() - liveMembers();
        // with the standard graph a rebuild copies the whole cache: join newcomers in bunches, and drop finished
        // rows only when they are a good share of the batch (until then they ride along, masked from nobody, their
        // output unused). In place a rebuild copies only the rows that move: join and drop at once, so no step
        // computes rows nobody reads and a newcomer's second token does not wait for the next bunch.
        boolean cheap = batch.cheapRebuilds();
        boolean holding = holdsDecode(System.nanoTime());
        // while decode steps are held for a burst, newcomers join once it is over: one copy of the cache, not one
        // per bunch
        boolean join = !pending.isEmpty() && (live == 0 || !holding
            && (cheap || stepsSinceRebuild >= JOIN_EVERY_STEPS || pending.size() * 8 >= live));
        boolean compact = dead > 0 && (live == 0 || cheap || dead * 4 >= batch.size());
        if (join || compact || !park.isEmpty()) {
          List<Sequence> next = new ArrayList<>();
          for (Sequence s : batch.members()) if (!s.finished() && !park.contains(s)) next.add(s);
          if (join) for (Sequence s : pending) if (!s.finished()) next.add(s); else forget(s);
          batch.rebuild(next, park);
          if (!park.isEmpty()) LOG.debug("Parked {} stream(s) whose consumers are behind", park.size());
          parked.addAll(park);
          if (join) {
            pending.clear();
            closeGroupCaches();
          }
          stepsSinceRebuild = 0;
          updateLoad(true);
        }
        if (liveMembers() > 0 && !holdsDecode(System.nanoTime())) {
          step();
          holdingSince = -1;
          stepsSinceRebuild++;
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      } catch (Throwable t) {
        LOG.error("Decode step of model {} failed; failing its {} running sequences", decoder.config().id(),
            batch.size() + pending.size(), t);
        for (Sequence s : batch.members()) s.fail(ErrorCode.INTERNAL, "inference failed: " + t.getMessage());
        releaseFinished();
        for (Sequence s : pending) s.fail(ErrorCode.INTERNAL, "inference failed: " + t.getMessage());
        for (Sequence s : pending) forget(s);
        pending.clear();
        closeGroupCaches();
        try {
          batch.rebuild(List.of());
        } catch (Exception ignored) {
          batch.close();
        }
        releaseFinished();
        updateLoad(true);
      }
    }
    shutdown();
  }

  /**
   * Prefill first: while requests keep arriving (two or more, none more than {@link Limits#arrivalGapMs} apart)
   * the running batch's next step waits, up to {@link Limits#prefillFirstMs} from when the wait began. Under a burst
   * the newcomers' first tokens then do not queue behind whole-batch steps (and the tokens those steps would send),
   * at the cost of a longer gap between two tokens of the streams already running. Never at capacity (newcomers
   * still waiting after admission), and only for a burst at least twice as fast as the arrivals before it
   * ({@link ArrivalPace}): under steady traffic two arrivals within the gap are the rule, and holding the running
   * streams for newcomers prefilled one turn at a time slowed every stream, until at 800 requests a second the node
   * fell behind (docs/benchmarks.md, "Arrivals at a steady rate", "Prefill first for bursts only").
   */
  private boolean holdsDecode(long now) {
    if (limits.prefillFirstMs() <= 0) return false;
    updateHeldShare(now);
    // a burst (two arrivals or more, each submitted within the gap after the one before: ArrivalPace; a lone
    // request is none, its stream goes on at once) lasts while this turn took in newcomers (a big prefill can
    // outlast the gap), more wait in the queue, or the last was submitted less than the gap ago
    boolean queuedNow = waitingCount.get() > waiting.size();   // submitted, not taken from the queue yet
    if (!arrivedThisTurn && !queuedNow && now - pace.lastArrival() >= arrivalGapNanos) return false;
    // newcomers left waiting after admission wait for running streams to end, which takes steps: holding those
    // steps would prefill nobody and, while arrivals never pause, leave the running batch one step per wait
    if (!waiting.isEmpty()) return false;
    // steady traffic's bursts come about as fast as its average, and holding for them slowed every stream until
    // the node fell behind; a wave, after a quiet spell or after a wave, comes many times faster (false too when
    // the last arrival began no burst)
    if (!pace.outpaces()) return false;
    // and never more than a share of the time: at the node's capacity a run of steady arrivals taken for a burst
    // was held into a backlog that fed itself (once in five runs at 800 a second on 2 cores)
    if (heldShare >= maxHeldShare) return false;
    if (holdingSince < 0) holdingSince = now;
    return now - holdingSince < TimeUnit.MILLISECONDS.toNanos(limits.prefillFirstMs());
  }

  /** Tests: another cap on the share of time held (1: none). */
  void maxHeldShare(double share) {
    maxHeldShare = share;
  }

  /** Ages the share of time held by the time since the last look, counting it held if a hold was on. */
  private void updateHeldShare(long now) {
    if (heldShareAt >= 0) {
      double decay = Math.exp(-(now - heldShareAt) / HELD_SHARE_NANOS);
      heldShare = heldShare * decay + (holdingSince >= 0 ? 1 - decay : 0);
    }
    heldShareAt = now;
  }

  /** Parked streams whose consumers caught up join again with the next newcomers (their cache rows come along). */
  private void unpark() {
    for (Iterator<Sequence> it = parked.iterator(); it.hasNext(); ) {
      Sequence s = it.next();
      if (s.unblocked()) {
        it.remove();
        groupCaches.add(s.ownCache());      // closed once the rows are copied in
        pending.add(s);
      }
    }
  }

  private int liveMembers() {
    int n = 0;
    for (Sequence s : batch.members()) if (!s.finished()) n++;
    return n;
  }

  private void dropCancelled() {
    for (Iterator<Sequence> it = waiting.iterator(); it.hasNext(); ) {
      Sequence s = it.next();
      if (s.cancelled()) {
        it.remove();
        waitingCount.decrementAndGet();
        s.finish("cancelled");
        forget(s);
      }
    }
    boolean changed = false;
    for (Iterator<Sequence> it = toSlice.iterator(); it.hasNext(); ) {
      Sequence s = it.next();
      if (s.cancelled()) {
        it.remove();
        s.finish("cancelled");
        forget(s);
        changed = true;
      }
    }
    if (slicing != null && slicing.cancelled()) {
      slicing.finish("cancelled");
      forget(slicing);
      dropSlicing();
      changed = true;
    }
    for (Sequence s : batch.members()) {
      if (s.cancelled() && !s.finished()) {
        s.finish("cancelled");
        changed = true;
      }
    }
    for (Sequence s : pending) {
      if (s.cancelled() && !s.finished()) {
        s.finish("cancelled");
        forget(s);
        changed = true;
      }
    }
    for (Iterator<Sequence> it = parked.iterator(); it.hasNext(); ) {
      Sequence s = it.next();
      if (s.cancelled()) {
        KvCache c = s.ownCache();
        s.finish("cancelled");
        if (c != null) c.close();
        forget(s);
        it.remove();
        changed = true;
      }
    }
    if (changed) {
      releaseFinished();
      updateLoad(true);
    }
  }

  private void admitAndPrefill() {
    List<Sequence> admitted = new ArrayList<>();
    int live = liveMembers() + pending.size() + parked.size() + slicedPrompts();
    long widest = waiting.isEmpty() ? 0 : largestReservation();
    while (!waiting.isEmpty()) {
      Sequence s = waiting.peek();
      int running = live + admitted.size();
      if (running >= limits.maxConcurrent()) break;
      // the batch cache is padded (every row as long as the longest), so it costs rows x the largest reservation,
      // not their sum: one long request among many short ones would otherwise take many times the budget
      long wider = Math.max(widest, s.kvReservation());
      long projected = Math.max(reservedKv + s.kvReservation(), (running + 1L) * wider);
      if (running > 0 && projected > limits.kvBudgetBytes()) break;
      widest = wider;
      waiting.poll();
      waitingCount.decrementAndGet();
      reservedKv += s.kvReservation();
      if (s.exhausted()) {
        s.finish("length");
        forget(s);
        continue;
      }
      admitted.add(s);
    }
    // long prompts first: their slices copy a cached beginning too, and then run only the rest
    if (limits.prefillSliceMs() > 0 && decoder.inPlace()) {
      int slice = sliceTokens();
      for (Iterator<Sequence> it = admitted.iterator(); it.hasNext(); ) {
        Sequence s = it.next();
        if (s.context().length > slice) {
          it.remove();
          toSlice.add(s);
        }
      }
    }
    prefillCachedAlone(admitted);
    // prefill in left-padded groups: bounded padded size (the graph returns logits for every position) and waste
    int i = 0;
    while (i < admitted.size()) {
      int j = i;
      int longest = 0;
      long real = 0;
      while (j < admitted.size()) {
        int len = admitted.get(j).context().length;
        int l = Math.max(longest, len);
        long padded = (long) l * (j - i + 1);
        if (j > i && (padded > decoder.prefillTokenLimit() || padded > 2 * (real + len) + 64)) break;
        longest = l;
        real += len;
        j++;
      }
      prefillGroup(admitted.subList(i, j), pending);
      i = j;
    }
    sliceLongPrompt();
  }

  /** Prompt tokens one slice runs: as many as take about {@link Limits#prefillSliceMs}, by the slices so far. */
  private int sliceTokens() {
    if (sliceNanosPerToken <= 0) return FIRST_SLICE_TOKENS;
    double tokens = limits.prefillSliceMs() * 1e6 / sliceNanosPerToken;
    return (int) Math.max(MIN_SLICE_TOKENS, Math.min(decoder.prefillTokenLimit(), tokens));
  }

  /** Before any slice was timed: a prompt longer than this is sliced, this many tokens a slice. */
  static final int FIRST_SLICE_TOKENS = 256;
  /** The smallest slice: a run of the graph costs about 10 prompt tokens on its own (see OnnxDecoder). */
  static final int MIN_SLICE_TOKENS = 16;

  /**
   * One slice of the long prompt being prefilled (the next one in line begins when none is); at its end the
   * sequence has its first token and joins the batch as a group's do.
   */
  private void sliceLongPrompt() {
    if (slicing == null) {
      slicing = toSlice.poll();
      if (slicing == null) return;
      try {
        partial = decoder.startPrefill(slicing.context());
      } catch (Exception e) {
        failSlicing(e);
        return;
      }
    }
    int vocab = decoder.config().vocabSize();
    if (logits.length < vocab) logits = new float[vocab];
    try {
      // with nobody else running or waiting a slice would hold nobody up: the largest piece (smaller pieces cost
      // their share of each run's fixed cost); a newcomer then waits for at most that piece
      boolean alone = liveMembers() == 0 && pending.isEmpty() && waiting.isEmpty() && toSlice.isEmpty();
      int budget = alone ? decoder.prefillTokenLimit() : sliceTokens();
      int before = partial.done();
      long t0 = System.nanoTime();
      boolean done = decoder.continuePrefill(partial, budget, logits);
      int ran = partial.done() - before;
      double perToken = (double) (System.nanoTime() - t0) / ran;
      // the later slices attend to a longer past: the measure follows them
      if (ran >= MIN_SLICE_TOKENS) sliceNanosPerToken = sliceNanosPerToken <= 0 ? perToken
          : (sliceNanosPerToken + perToken) / 2;
      if (!done) return;
    } catch (Exception e) {
      failSlicing(e);
      return;
    }
    Sequence s = slicing;
    KvCache cache = partial.cache();
    slicing = null;
    partial = null;
    firstTokens(List.of(s), cache, pending);
  }

  private void failSlicing(Exception e) {
    LOG.error("Prefill of a {}-token prompt on model {} failed", slicing.context().length, decoder.config().id(), e);
    slicing.fail(ErrorCode.INTERNAL, "inference failed: " + e.getMessage());
    forget(slicing);
    dropSlicing();
  }

  /** The prompt being sliced is given up: its cache buffers freed, the next one in line begins next turn. */
  private void dropSlicing() {
    if (partial != null) partial.close();
    slicing = null;
    partial = null;
  }

  /** Admitted prompts in or waiting for their slices. */
  private int slicedPrompts() {
    return toSlice.size() + (slicing != null ? 1 : 0);
  }

  /**
   * A few newcomers whose prompts begin with a cached beginning (the next turns of conversations) prefill alone, so
   * that each copies its beginning and runs only the rest: in a group each row would run its whole prompt, since
   * ONNX Runtime's attention takes several new tokens after a past only for a single row. More than
   * {@link #CACHED_ALONE_MAX} of them are a burst; they stay in the groups, whose shared beginning is copied once.
   */
  private void prefillCachedAlone(List<Sequence> admitted) {
    PromptCache cache = decoder.promptCache();
    if (cache == null || admitted.isEmpty() || cache.entries() == 0) return;
    List<Sequence> alone = null;
    for (Sequence s : admitted) {
      int[] ctx = s.context();
      if (cache.covered(ctx, ctx.length - 1) == 0) continue;
      if (alone == null) alone = new ArrayList<>();
      alone.add(s);
      if (alone.size() > CACHED_ALONE_MAX) return;
    }
    if (alone == null) return;
    admitted.removeAll(alone);
    for (Sequence s : alone) prefillGroup(List.of(s), pending);
  }

  /** Newcomers in one turn that may prefill alone from a cached beginning (each alone pays a run of its own). */
  static final int CACHED_ALONE_MAX = 8;

  /** The largest cache reservation among the sequences running (in the batch, waiting to join, or parked). */
  private long largestReservation() {
    long max = 0;
    for (Sequence s : batch.members()) if (!s.finished()) max = Math.max(max, s.kvReservation());
    for (Sequence s : pending) if (!s.finished()) max = Math.max(max, s.kvReservation());
    for (Sequence s : parked) max = Math.max(max, s.kvReservation());
    for (Sequence s : toSlice) max = Math.max(max, s.kvReservation());
    if (slicing != null) max = Math.max(max, slicing.kvReservation());
    return max;
  }

  private void prefillGroup(List<Sequence> group, List<Sequence> joiners) {
    int vocab = decoder.config().vocabSize();
    if (logits.length < group.size() * vocab) logits = new float[group.size() * vocab];
    KvCache cache = null;
    try {
      List<int[]> prompts = new ArrayList<>(group.size());
      for (Sequence s : group) prompts.add(s.context());
      if (group.size() > peakPrefillGroup) peakPrefillGroup = group.size();
      cache = decoder.prefill(prompts, logits);
    } catch (Exception e) {
      failPrefill(group, e);
    }
    firstTokens(group, cache, joiners);
  }

  /**
   * After a prefill of {@code group} (its cache, or null when it failed; row r's logits at r x vocab in
   * {@link #logits}): each sequence takes its first token; those that go on join {@code joiners}, and the cache goes
   * at once when none does.
   */
  private void firstTokens(List<Sequence> group, KvCache cache, List<Sequence> joiners) {
    if (cache != null) {
      groupCaches.add(cache);
      int vocab = decoder.config().vocabSize();
      try {
        for (int r = 0; r < group.size(); r++) {
          Sequence s = group.get(r);
          s.prefilled(cache, r);
          s.sampleAndAccept(logits, r * vocab, scratch);
          tokensOut++;
        }
      } catch (Exception e) {
        failPrefill(group, e);
      }
    }
    boolean anyJoins = false;
    for (Sequence s : group) {
      if (s.finished()) {
        forget(s);
      } else {
        joiners.add(s);
        anyJoins = true;
      }
    }
    if (!anyJoins && cache != null) {
      // every row ended at its first token (or failed): nobody needs this group's cache
      groupCaches.remove(cache);
      cache.close();
    }
  }

  private void failPrefill(List<Sequence> group, Exception e) {
    LOG.error("Prefill of {} request(s) on model {} failed", group.size(), decoder.config().id(), e);
    for (Sequence s : group) s.fail(ErrorCode.INTERNAL, "inference failed: " + e.getMessage());
  }

  private void closeGroupCaches() {
    for (KvCache c : groupCaches) c.close();
    groupCaches.clear();
  }

  private void step() throws Exception {
    int b = batch.size();
    int live = liveMembers();
    if (live > peakBatch) peakBatch = live;
    int vocab = decoder.config().vocabSize();
    if (logits.length < b * vocab) logits = new float[b * vocab];
    decoder.decode(batch, logits);
    steps++;
    List<Sequence> members = batch.members();
    for (int r = 0; r < b; r++) {
      Sequence s = members.get(r);
      if (s.finished()) continue;     // a finished row waiting for the next compaction
      s.sampleAndAccept(logits, r * vocab, scratch);
      tokensOut++;
      // forgotten at once: its terminal event is out, and a caller that starts the next request on it reads this
      // scheduler's load (LoadedModel's lane choice) without the finished one. (Rows finished before this step were
      // forgotten where they finished, so no second pass over the batch is needed.)
      if (s.finished()) forget(s);
    }
    updateLoad(false);
  }

  private void releaseFinished() {
    for (Sequence s : batch.members()) if (s.finished()) forget(s);
  }

  private void forget(Sequence s) {
    if (byRequest.remove(s.requestId(), s)) reservedKv -= s.kvReservation();
  }

  private void updateLoad(boolean membershipChanged) {
    long out = 0;
    for (Sequence s : batch.members()) out += s.outstanding();
    for (Sequence s : pending) out += s.outstanding();
    for (Sequence s : parked) out += s.outstanding();
    for (Sequence s : waiting) out += s.outstanding();
    for (Sequence s : toSlice) out += s.outstanding();
    if (slicing != null) out += slicing.outstanding();
    outstandingTokens = out;
    int active = slicedPrompts();
    for (Sequence s : pending) if (!s.finished()) active++;
    active += parked.size();
    parkedCount = parked.size();
    for (Sequence s : batch.members()) if (!s.finished()) active++;
    boolean changed = active != activeCount;
    activeCount = active;
    if ((membershipChanged || changed) && onLoadChange != null) onLoadChange.run();
  }

  /** The largest batch one decode step has run since {@link #resetPeakBatch}. */
  public int peakBatch() { return peakBatch; }

  /** The most sequences one prefill has run together since {@link #resetPeakBatch}. */
  public int peakPrefillGroup() { return peakPrefillGroup; }

  public void resetPeakBatch() {
    peakBatch = 0;
    peakPrefillGroup = 0;
  }

  /** Decode steps run since this scheduler started. */
  public long steps() { return steps; }

  /** Key/value cache buffers the decode steps allocated since this scheduler started (see {@link DecodeBatch}). */
  public long cacheBufferAllocations() { return batch.bufferAllocations(); }

  /** Floats in those buffers, all tensors together. */
  public long cacheFloatsAllocated() { return batch.floatsAllocated(); }

  /** The most floats one cache tensor of one decode step has needed since this scheduler started. */
  public long cachePeakFloats() { return batch.peakFloats(); }

  /** Cache tensors that joins and parks had to read through a heap copy (see {@link DecodeBatch#heapCopies}). */
  public long cacheHeapCopies() { return batch.heapCopies(); }

  /** Prompt tokens this lane's prefills took from another row of their group instead of running them. */
  public long sharedPrefixTokens() { return decoder.sharedPrefixTokens(); }

  /** The prompt cache this lane's prefills use (shared by the model's lanes), or null. */
  public PromptCache promptCache() { return decoder.promptCache(); }

  /** Tokens generated by this scheduler since it started. */
  public long tokensGenerated() { return tokensOut; }

  private void shutdown() {
    List<Sequence> all = new ArrayList<>(batch.members());
    all.addAll(pending);
    all.addAll(waiting);
    all.addAll(toSlice);
    if (slicing != null) all.add(slicing);
    if (partial != null) partial.close();
    for (Sequence s : parked) {
      all.add(s);
      if (s.ownCache() != null) groupCaches.add(s.ownCache());
    }
    parked.clear();
    Object in;
    while ((in = incoming.poll()) != null) if (in instanceof Sequence s) all.add(s);
    for (Sequence s : all) s.fail(ErrorCode.WORKER_LOST, "worker stopped");
    batch.close();
    closeGroupCaches();
    byRequest.clear();
  }

  /** Stops the loop; running and queued sequences end with ERROR (worker_lost). Waits for the thread. */
  @Override public void close() {
    closed = true;
    thread.interrupt();
    try {
      thread.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}

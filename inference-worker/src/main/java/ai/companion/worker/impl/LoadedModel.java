package ai.companion.worker.impl;

import ai.companion.api.ChatMessage;
import ai.companion.api.CompanionException;
import ai.companion.api.ErrorCode;
import ai.companion.api.GenerationRequest;
import ai.companion.api.ModelInfo;
import ai.companion.api.SamplingParams;
import ai.onnxruntime.OrtEnvironment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.ToLongFunction;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A served model: its descriptors, tokenizer, ONNX decoder and decode loops. A model runs one decode loop, or
 * several side by side (decode lanes, see {@link OnnxDecoder#autoLanes}): each lane its own thread, batch and cache
 * over one shared session; a request joins one lane and stays there. The model's limits (concurrent sequences,
 * queue, cache budget) are split evenly over the lanes, so together they keep to them.
 *
 * <p>A request goes through {@link #prepare} (tokenize and check against the context; any thread but the event
 * loop, it is CPU work) and then {@link #start} (queue for the decode loop), so that a caller can answer
 * "accepted" before the first event can possibly be sent.
 */
public final class LoadedModel implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(LoadedModel.class);

  private final ModelConfig config;
  private final ModelTokenizer tokenizer;
  private final OnnxDecoder decoder;
  private final List<OnnxDecoder> siblings;         // the lanes' decoders after the first (the session is decoder's)
  private final List<DecodeScheduler> lanes;
  private final ModelInfo info;

  /**
   * A lane that holds fewer sequences than this takes the next request before an idle lane wakes: each lane's step
   * pays the model's fixed per-step cost again (about 100 us for stories260K), worth it only once a batch is big
   * enough that a second core shortens it (2 rows on two lanes: 1.8x one row for 2 cores busy; 16 rows as 8 + 8:
   * 5.7x against 3.4x on one).
   */
  static final int LANE_FILL = 8;

  private LoadedModel(ModelConfig config, ModelTokenizer tokenizer, OnnxDecoder decoder, List<OnnxDecoder> siblings,
                      DecodeScheduler.Limits limits, Runnable onLoadChange) {
    this.config = config;
    this.tokenizer = tokenizer;
    this.decoder = decoder;
    this.siblings = siblings;
    int n = 1 + siblings.size();
    DecodeScheduler.Limits each = n == 1 ? limits : new DecodeScheduler.Limits(
        Math.max(1, ceilDiv(limits.maxConcurrent(), n)), ceilDiv(limits.maxQueued(), n), limits.kvBudgetBytes() / n,
        limits.prefillFirstMs(), limits.arrivalGapMs(), limits.prefillSliceMs());
    List<DecodeScheduler> all = new ArrayList<>(n);
    all.add(new DecodeScheduler(decoder, each, onLoadChange, n == 1 ? "" : "-0"));
    for (int i = 0; i < siblings.size(); i++) {
      all.add(new DecodeScheduler(siblings.get(i), each, onLoadChange, "-" + (i + 1)));
    }
    this.lanes = List.copyOf(all);
    this.info = new ModelInfo(config.id(), config.modelType(), config.contextLength(), config.parameters(),
        config.variant(), config.description());
    if (config.hasChatTemplate()) {
      LOG.info("Model {} has a chat template; it is not applied (no template engine): a chat prompt is the message "
          + "contents joined with newlines", config.id());
    }
  }

  /** Loads a model folder with a prompt cache of {@link PromptCache#DEFAULT_BYTES}. */
  public static LoadedModel load(Path folder, OnnxDecoder.SessionSettings settings, DecodeScheduler.Limits limits,
                                 Runnable onLoadChange) throws Exception {
    return load(folder, settings, limits, PromptCache.DEFAULT_BYTES, onLoadChange);
  }

  /**
   * Loads a model folder (blocking: reads files, builds the ONNX session); its lanes share one prompt cache of
   * {@code promptCacheBytes} (0: none) where the model runs the in-place cache graph.
   */
  public static LoadedModel load(Path folder, OnnxDecoder.SessionSettings settings, DecodeScheduler.Limits limits,
                                 long promptCacheBytes, Runnable onLoadChange) throws Exception {
    ModelConfig config = ModelConfig.read(folder, settings.variants());
    if (!config.modelType().equals("llama")) {
      LOG.warn("Model {} has model_type {}; serving it as a llama-style decoder", config.id(), config.modelType());
    }
    ModelTokenizer tokenizer = ModelTokenizer.load(folder.resolve(ModelConfig.TOKENIZER), config.bosTokenId());
    OnnxDecoder decoder = null;
    List<OnnxDecoder> siblings = new ArrayList<>();
    try {
      decoder = OnnxDecoder.open(OrtEnvironment.getEnvironment(), config, settings);
      int lanes = decoder.lanes(settings);
      for (int i = 1; i < lanes; i++) siblings.add(decoder.sibling());
      if (decoder.inPlace() && promptCacheBytes > 0) {
        PromptCache cache = new PromptCache(promptCacheBytes, 2 * config.layers(), config.kvHeads(), config.headDim());
        decoder.usePromptCache(cache);
        for (OnnxDecoder d : siblings) d.usePromptCache(cache);
      }
      LOG.info("Loaded model {} ({}, {} layers, context {}, vocab {}, device {}, {} intra-op thread(s), {} decode "
              + "lane(s), {}, {})", config.id(), decoder.inPlace() ? config.inPlaceModelFile().getFileName()
              + ", cache in place" : config.modelFile().getFileName(), config.layers(), config.contextLength(),
          config.vocabSize(), decoder.device(), decoder.threads(), lanes, settings.optLevel(),
          decoder.promptCache() != null ? "prompt cache " + (promptCacheBytes >> 20) + " MiB"
              : "no prompt cache" + (promptCacheBytes > 0 ? " (the standard graph)" : ""));
      return new LoadedModel(config, tokenizer, decoder, siblings, limits, onLoadChange);
    } catch (Exception e) {
      for (OnnxDecoder d : siblings) d.close();
      if (decoder != null) decoder.close();
      tokenizer.close();
      throw e;
    }
  }

  private static int ceilDiv(int a, int b) {
    return (a + b - 1) / b;
  }

  public ModelInfo info() { return info; }
  public ModelConfig config() { return config; }
  public ModelTokenizer tokenizer() { return tokenizer; }
  public String device() { return decoder.device(); }
  /** The first decode lane (the only one unless the settings gave the model several). */
  public DecodeScheduler scheduler() { return lanes.get(0); }

  /** Every decode lane, the first first. */
  public List<DecodeScheduler> lanes() { return lanes; }

  OnnxDecoder decoder() { return decoder; }

  /** Sequences running (parked included) on every lane. */
  public int active() { return (int) sum(DecodeScheduler::active); }

  /** Sequences waiting for admission on every lane. */
  public int queued() { return (int) sum(DecodeScheduler::queued); }

  /** Tokens the running and queued sequences of every lane may still generate. */
  public long outstandingTokens() { return sum(DecodeScheduler::outstandingTokens); }

  /** Streams parked on every lane because their consumers are behind. */
  public int parked() { return (int) sum(DecodeScheduler::parked); }

  /** Tokens generated by every lane since the model loaded. */
  public long tokensGenerated() { return sum(DecodeScheduler::tokensGenerated); }

  /** Cache tensors read through a heap copy on every lane (see {@link DecodeScheduler#cacheHeapCopies}). */
  public long cacheHeapCopies() { return sum(DecodeScheduler::cacheHeapCopies); }

  /** The prompt cache the model's lanes share, or null (none configured, or the standard graph). */
  public PromptCache promptCache() { return decoder.promptCache(); }

  /** Prompt tokens that prefills on every lane took from another row of their group (see {@link OnnxDecoder}). */
  public long sharedPrefixTokens() { return sum(DecodeScheduler::sharedPrefixTokens); }

  private long sum(ToLongFunction<DecodeScheduler> of) {
    long n = 0;
    for (DecodeScheduler l : lanes) n += of.applyAsLong(l);
    return n;
  }

  /**
   * The lanes in the order a new request tries them: first the emptiest lane already at work while it holds fewer
   * than {@link #LANE_FILL} sequences (or its share of the concurrency limit, if smaller), then the rest from the
   * emptiest (an idle one before a busy one). A lane whose queue is full refuses, and the next one is asked.
   */
  private List<DecodeScheduler> laneOrder() {
    if (lanes.size() == 1) return lanes;
    int[] load = new int[lanes.size()];
    Integer[] order = new Integer[lanes.size()];
    for (int i = 0; i < load.length; i++) {
      load[i] = lanes.get(i).load();
      order[i] = i;
    }
    int fill = Math.min(LANE_FILL, lanes.get(0).limits().maxConcurrent());
    // filling lanes (busy, below the fill mark) first, then by load; ties keep the lanes' order
    Arrays.sort(order, Comparator.<Integer>comparingInt(i -> load[i] > 0 && load[i] < fill ? 0 : 1)
        .thenComparingInt(i -> load[i]));
    List<DecodeScheduler> out = new ArrayList<>(order.length);
    for (int i : order) out.add(lanes.get(i));
    return out;
  }

  /** A request checked and tokenized, ready to {@link #start}. */
  public record Prepared(GenerationRequest request, int[] promptIds, int[] context, int maxCompletion) {
    public int promptTokens() { return promptIds.length; }
  }

  /**
   * Tokenizes and checks a request: a completion is BOS + the prompt's ids; a chat, for lack of a template
   * engine, BOS + the message contents joined with "\n" (see {@link #chatText}). Resumed tokens follow the prompt.
   *
   * @throws ai.companion.api.CompanionException CONTEXT_LENGTH_EXCEEDED when the prompt, or prompt + max_tokens,
   *     does not fit the context (the message names the limit)
   */
  public Prepared prepare(GenerationRequest request) {
    String text = request.chat() ? chatText(request.messages()) : request.prompt() == null ? "" : request.prompt();
    int[] prompt = tokenizer.encodeWithBos(text);
    int ctx = config.contextLength();
    if (prompt.length >= ctx) {
      throw ErrorCode.CONTEXT_LENGTH_EXCEEDED.exception("This model's maximum context length is " + ctx
          + " tokens, but the prompt has " + prompt.length + " tokens.");
    }
    Integer max = request.params().maxTokens();
    if (max != null && prompt.length + max > ctx) {
      throw ErrorCode.CONTEXT_LENGTH_EXCEEDED.exception("This model's maximum context length is " + ctx
          + " tokens, but " + (prompt.length + max) + " tokens were requested (" + prompt.length
          + " in the prompt, " + max + " for the completion). Reduce the prompt or max_tokens.");
    }
    int maxCompletion = max == null ? ctx - prompt.length : max;
    List<Integer> resume = request.resumeTokenIds();
    int[] context = new int[prompt.length + resume.size()];
    System.arraycopy(prompt, 0, context, 0, prompt.length);
    for (int i = 0; i < resume.size(); i++) {
      int t = resume.get(i);
      if (t < 0 || t >= config.vocabSize()) {
        throw ErrorCode.INVALID_REQUEST.exception("resumed token id " + t + " is outside the vocabulary of "
            + config.id());
      }
      context[prompt.length + i] = t;
    }
    return new Prepared(request, prompt, context, maxCompletion);
  }

  /**
   * The prompt text of a chat for a model without a chat template engine: the message contents, in order,
   * joined with "\n" (roles are not spelled out). Jinja chat templates are not implemented.
   */
  public static String chatText(List<ChatMessage> messages) {
    return messages.stream().map(m -> m.content() == null ? "" : m.content()).collect(Collectors.joining("\n"));
  }

  /**
   * Queues a prepared request; its events go to {@code sink} on the decode thread.
   *
   * @throws ai.companion.api.CompanionException OVERLOADED when the queue is full
   */
  public Sequence start(Prepared p, String workerId, EventSink sink) {
    return start(p, workerId, sink, null);
  }

  /**
   * As {@link #start(Prepared, String, EventSink)}, with flow control: the sink sends checkpoints and reports their
   * answers to {@code credit}; too many unanswered ones park the sequence.
   */
  public Sequence start(Prepared p, String workerId, EventSink sink, StreamCredit credit) {
    SamplingParams params = p.request().params();
    long seed = params.seed() != null ? params.seed() : ThreadLocalRandom.current().nextLong();
    TextStreamer streamer = new TextStreamer(tokenizer::decode, p.context(), p.promptTokens() + p.maxCompletion() + 1,
        params.stop());
    long kvPerToken = 2L * config.layers() * config.kvHeads() * config.headDim() * Float.BYTES;
    long reservation = kvPerToken * Math.min(config.contextLength(), p.promptTokens() + p.maxCompletion());
    Sequence s = new Sequence(p.request().requestId(), workerId, sink, p.context(), p.promptTokens(),
        p.maxCompletion(), config, new Sampler(params, seed), streamer, params.repetitionPenalty() != 1.0,
        reservation, credit);
    // the lane that holds the sequence, set before it can run there: a returned credit wakes that lane
    AtomicReference<DecodeScheduler> holder = new AtomicReference<>();
    if (credit != null) credit.onReturn(() -> holder.get().wake());
    CompanionException refused = null;
    for (DecodeScheduler lane : laneOrder()) {
      holder.set(lane);
      try {
        lane.submit(s);
        refused = null;
        break;
      } catch (CompanionException e) {
        if (e.code() != ErrorCode.OVERLOADED) throw e;
        if (refused == null) refused = e;
      }
    }
    if (refused != null) {
      if (lanes.size() == 1) throw refused;
      throw ErrorCode.OVERLOADED.exception("model " + config.id() + " is at capacity (" + active()
          + " sequences running, " + queued() + " queued on " + lanes.size() + " decode lanes); retry later");
    }
    LOG.debug("Request {} queued on model {}: {} prompt tokens, {} resumed, up to {} completion tokens",
        s.requestId(), config.id(), p.promptTokens(), p.context().length - p.promptTokens(), p.maxCompletion());
    return s;
  }

  public boolean cancel(String requestId) {
    for (DecodeScheduler l : lanes) if (l.cancel(requestId)) return true;
    return false;
  }

  @Override public void close() throws Exception {
    for (DecodeScheduler l : lanes) l.close();
    for (OnnxDecoder d : siblings) d.close();
    decoder.close();
    tokenizer.close();
  }
}

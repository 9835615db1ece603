package ai.companion.worker.impl;

import ai.companion.api.ChatMessage;
import ai.companion.api.ErrorCode;
import ai.companion.api.GenerationRequest;
import ai.companion.api.ModelInfo;
import ai.companion.api.SamplingParams;
import ai.onnxruntime.OrtEnvironment;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A served model: its descriptors, tokenizer, ONNX decoder and decode loop.
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
  private final DecodeScheduler scheduler;
  private final ModelInfo info;

  private LoadedModel(ModelConfig config, ModelTokenizer tokenizer, OnnxDecoder decoder,
                      DecodeScheduler.Limits limits, Runnable onLoadChange) {
    this.config = config;
    this.tokenizer = tokenizer;
    this.decoder = decoder;
    this.scheduler = new DecodeScheduler(decoder, limits, onLoadChange);
    this.info = new ModelInfo(config.id(), config.modelType(), config.contextLength(), config.parameters(),
        config.variant(), config.description());
    if (config.hasChatTemplate()) {
      LOG.info("Model {} has a chat template; it is not applied (no template engine): a chat prompt is the message "
          + "contents joined with newlines", config.id());
    }
  }

  /** Loads a model folder (blocking: reads files, builds the ONNX session). */
  public static LoadedModel load(Path folder, OnnxDecoder.SessionSettings settings, DecodeScheduler.Limits limits,
                                 Runnable onLoadChange) throws Exception {
    ModelConfig config = ModelConfig.read(folder, settings.variants());
    if (!config.modelType().equals("llama")) {
      LOG.warn("Model {} has model_type {}; serving it as a llama-style decoder", config.id(), config.modelType());
    }
    ModelTokenizer tokenizer = ModelTokenizer.load(folder.resolve(ModelConfig.TOKENIZER), config.bosTokenId());
    try {
      OnnxDecoder decoder = OnnxDecoder.open(OrtEnvironment.getEnvironment(), config, settings);
      LOG.info("Loaded model {} ({}, {} layers, context {}, vocab {}, device {}, {} intra-op thread(s), {})",
          config.id(), decoder.inPlace() ? config.inPlaceModelFile().getFileName() + ", cache in place"
              : config.modelFile().getFileName(), config.layers(), config.contextLength(), config.vocabSize(),
          decoder.device(), decoder.threads(), settings.optLevel());
      return new LoadedModel(config, tokenizer, decoder, limits, onLoadChange);
    } catch (Exception e) {
      tokenizer.close();
      throw e;
    }
  }

  public ModelInfo info() { return info; }
  public ModelConfig config() { return config; }
  public ModelTokenizer tokenizer() { return tokenizer; }
  public String device() { return decoder.device(); }
  public DecodeScheduler scheduler() { return scheduler; }
  OnnxDecoder decoder() { return decoder; }

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
    if (credit != null) credit.onReturn(scheduler::wake);
    scheduler.submit(s);
    LOG.debug("Request {} queued on model {}: {} prompt tokens, {} resumed, up to {} completion tokens",
        s.requestId(), config.id(), p.promptTokens(), p.context().length - p.promptTokens(), p.maxCompletion());
    return s;
  }

  public boolean cancel(String requestId) {
    return scheduler.cancel(requestId);
  }

  @Override public void close() throws Exception {
    scheduler.close();
    decoder.close();
    tokenizer.close();
  }
}

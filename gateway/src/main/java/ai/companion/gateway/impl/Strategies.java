package ai.companion.gateway.impl;

import ai.companion.api.ChatMessage;
import ai.companion.api.ErrorCode;
import ai.companion.api.GenerationRequest;
import ai.companion.api.RouteDecision;
import ai.companion.api.SamplingParams;
import ai.companion.gateway.GatewayOptions;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The answer generator's side of the router's strategies: turns a routed request into the one the worker runs.
 * {@code direct} and {@code specialist} run as they are; {@code knowledge} grounds the request in the passages
 * the router found (a system message for chat, a context block before a prompt), with the plain request kept
 * as a fallback for a model whose context the passages would overflow; {@code chunked} summarises each chunk of
 * an over-long input (map, one generation per chunk on the chosen model) and then asks for the answer from the
 * summaries (reduce), which is what the client sees streamed.
 */
final class Strategies {
  private static final Logger LOG = LoggerFactory.getLogger(Strategies.class);

  /** Characters of passages added for the knowledge strategy, at most. */
  static final int MAX_PASSAGE_CHARS = 2_000;
  /** Chunks summarised at most (a longer input is cut, and the route says so). */
  static final int MAX_CHUNKS = 16;
  /** Tokens per chunk summary, at most. */
  static final int MAX_SUMMARY_TOKENS = 64;

  /**
   * What to send, smaller requests to fall back to in order when the worker says the context is full (the last
   * one plain), and notes for the route explanation.
   */
  record Prepared(GenerationRequest request, List<Fallback> fallbacks, List<String> notes) {
    Prepared {
      fallbacks = fallbacks == null ? List.of() : List.copyOf(fallbacks);
    }
  }

  /** A smaller request to try when the worker finds the prompt too long; {@code note} joins the route's reasons. */
  record Fallback(GenerationRequest request, String strategy, String note) {}

  /** Characters of the single passage in the second, smaller grounded try. */
  static final int SHORT_PASSAGE_CHARS = 200;

  private final Vertx vertx;
  private final GatewayOptions options;

  Strategies(Vertx vertx, GatewayOptions options) {
    this.vertx = vertx;
    this.options = options;
  }

  /**
   * The request to run for this decision. {@code cancelled} is asked between map steps: a client that left
   * stops the remaining ones.
   */
  Future<Prepared> prepare(GenerationRequest req, RouteDecision route, JsonObject plan,
                           java.util.function.BooleanSupplier cancelled) {
    String strategy = route.strategy() == null ? "direct" : route.strategy();
    if (plan == null) plan = new JsonObject();
    switch (strategy) {
      case "knowledge":
        return Future.succeededFuture(knowledge(req, plan));
      case "chunked":
        return chunked(req, plan, cancelled);
      default:
        return Future.succeededFuture(new Prepared(req, List.of(), List.of()));
    }
  }

  private static Prepared knowledge(GenerationRequest req, JsonObject plan) {
    JsonArray passages = plan.getJsonArray("passages", new JsonArray());
    List<String> texts = new ArrayList<>();
    for (int i = 0; i < passages.size(); i++) {
      Object p = passages.getValue(i);
      String text = p instanceof JsonObject o ? o.getString("text", "") : String.valueOf(p);
      if (!text.isBlank()) texts.add(text.strip());
    }
    if (texts.isEmpty()) return new Prepared(req, List.of(), List.of("knowledge: no passage to add"));
    GenerationRequest all = grounded(req, texts, MAX_PASSAGE_CHARS);
    GenerationRequest one = grounded(req, texts.subList(0, 1), SHORT_PASSAGE_CHARS);
    return new Prepared(all, List.of(
        new Fallback(one, "knowledge", "knowledge passages shortened to fit the model's context"),
        new Fallback(req, "direct", "knowledge passages left out: they would overflow the model's context")),
        List.of("knowledge: " + texts.size() + " passage(s) added to the prompt"));
  }

  /** The request with up to {@code maxChars} of passages before it. */
  private static GenerationRequest grounded(GenerationRequest req, List<String> texts, int maxChars) {
    StringBuilder ctx = new StringBuilder();
    for (int i = 0; i < texts.size() && ctx.length() < maxChars; i++) {
      String t = texts.get(i);
      String piece = t.length() > maxChars - ctx.length() ? t.substring(0, maxChars - ctx.length()) : t;
      ctx.append('[').append(i + 1).append("] ").append(piece).append('\n');
    }
    if (req.chat()) {
      List<ChatMessage> msgs = new ArrayList<>();
      msgs.add(new ChatMessage("system", "Answer from these passages where they help:\n" + ctx));
      msgs.addAll(req.messages());
      return copy(req, null, msgs, req.params());
    }
    return copy(req, "Context:\n" + ctx + "\n" + req.prompt(), null, req.params());
  }

  private Future<Prepared> chunked(GenerationRequest req, JsonObject plan, java.util.function.BooleanSupplier cancelled) {
    int chunkChars = Math.max(16, plan.getInteger("chunkChars", 1000));
    int overlap = Math.max(0, Math.min(chunkChars / 2, plan.getInteger("overlapChars", chunkChars / 10)));
    int summaryTokens = Math.max(8, Math.min(MAX_SUMMARY_TOKENS, plan.getInteger("answerTokens", MAX_SUMMARY_TOKENS)));
    String text = req.chat() ? lastUser(req.messages()) : req.prompt();
    if (text == null || text.length() <= chunkChars) {
      return Future.succeededFuture(new Prepared(req, List.of(), List.of("chunked: input fits one chunk, run directly")));
    }
    List<String> chunks = new ArrayList<>();
    for (int start = 0; start < text.length() && chunks.size() < MAX_CHUNKS; start += chunkChars - overlap) {
      chunks.add(text.substring(start, Math.min(text.length(), start + chunkChars)));
      if (start + chunkChars >= text.length()) break;
    }
    boolean cut = chunks.size() == MAX_CHUNKS && (long) MAX_CHUNKS * (chunkChars - overlap) < text.length();
    SamplingParams mapParams = req.params().withMaxTokens(summaryTokens);
    // map, one chunk after another: they share the chosen model and its worker's slots with everyone else
    Future<List<String>> summaries = Future.succeededFuture(new ArrayList<>());
    for (int i = 0; i < chunks.size(); i++) {
      int n = i;
      summaries = summaries.compose(list -> {
        if (cancelled.getAsBoolean()) {
          return Future.failedFuture(ErrorCode.INTERNAL.exception("cancelled before map step " + n));
        }
        return map(req, n, chunks.get(n), mapParams).map(s -> {
          list.add(s);
          return list;
        });
      });
    }
    return summaries.map(list -> {
      StringBuilder joined = new StringBuilder();
      for (int i = 0; i < list.size(); i++) joined.append(i + 1).append(". ").append(list.get(i).strip()).append('\n');
      List<String> notes = new ArrayList<>();
      notes.add("chunked: " + list.size() + " chunk(s) of " + chunkChars + " chars summarised (map), answer from "
          + "the summaries (reduce)" + (cut ? "; input cut after " + MAX_CHUNKS + " chunks" : ""));
      // the router's chunk size rests on an estimate of characters per token: keep smaller reduces at hand
      return new Prepared(reduce(req, joined, chunkChars), List.of(
          new Fallback(reduce(req, joined, chunkChars / 2), "chunked", "summaries shortened to fit the model's context"),
          new Fallback(reduce(req, joined, chunkChars / 4), "chunked", "summaries shortened again")), notes);
    });
  }

  private static GenerationRequest reduce(GenerationRequest req, CharSequence summaries, int maxChars) {
    String reduced = summaries.length() > maxChars ? summaries.subSequence(0, maxChars).toString()
        : summaries.toString();
    if (req.chat()) {
      List<ChatMessage> msgs = new ArrayList<>(req.messages());
      int last = lastUserIndex(msgs);
      msgs.set(last, new ChatMessage("user", "Summaries of the document, part by part:\n" + reduced
          + "\nAnswer from these summaries."));
      return copy(req, null, msgs, req.params());
    }
    return copy(req, reduced, null, req.params());
  }

  /** One map step: a plain generation on the chosen model, collected. */
  private Future<String> map(GenerationRequest req, int n, String chunk, SamplingParams params) {
    return mapOnce(req, n, chunk, params).recover(err -> {
      // the chunk size came from an estimate; a chunk the model cannot hold is halved
      if (ErrorCode.of(err) != ErrorCode.CONTEXT_LENGTH_EXCEEDED || chunk.length() < 32) return Future.failedFuture(err);
      int mid = chunk.length() / 2;
      return map(req, n * 2, chunk.substring(0, mid), params)
          .compose(a -> map(req, n * 2 + 1, chunk.substring(mid), params).map(b -> a.strip() + " " + b.strip()));
    });
  }

  private Future<String> mapOnce(GenerationRequest req, int n, String chunk, SamplingParams params) {
    String id = req.requestId() + ".m" + n + "-" + chunk.length();
    JsonObject hints = req.hints().copy().put("phase", "map");
    GenerationRequest sub = req.chat()
        ? new GenerationRequest(id, req.model(), null, List.of(new ChatMessage("system",
            "Summarise this part of a document in one or two sentences."), new ChatMessage("user", chunk)), params,
            ai.companion.api.Addresses.streamAddress(id), List.of(), hints)
        : new GenerationRequest(id, req.model(), chunk + "\n\nIn short:", null, params,
            ai.companion.api.Addresses.streamAddress(id), List.of(), hints);
    Promise<String> out = Promise.promise();
    StringBuilder text = new StringBuilder();
    new GenerationCall(vertx, options, sub, this).start(new GenerationCall.Listener() {
      @Override
      public void onTokens(String t, List<Integer> tokenIds) {
        text.append(t);
      }

      @Override
      public void onFailover(RouteDecision route, String reason) {}

      @Override
      public void onDone(String finishReason, int promptTokens, int completionTokens) {
        out.tryComplete(text.toString());
      }

      @Override
      public void onError(ApiException error) {
        out.tryFail(error);
      }
    }).onFailure(out::tryFail);
    LOG.debug("Request {}: map step {} ({} chars)", req.requestId(), n, chunk.length());
    return out.future();
  }

  private static String lastUser(List<ChatMessage> msgs) {
    int i = lastUserIndex(msgs);
    return i < 0 ? null : msgs.get(i).content();
  }

  private static int lastUserIndex(List<ChatMessage> msgs) {
    for (int i = msgs.size() - 1; i >= 0; i--) if (msgs.get(i).role().equals("user")) return i;
    return -1;
  }

  private static GenerationRequest copy(GenerationRequest r, String prompt, List<ChatMessage> messages,
                                        SamplingParams params) {
    return new GenerationRequest(r.requestId(), r.model(), prompt, messages, params, r.streamAddress(),
        r.resumeTokenIds(), r.hints());
  }
}

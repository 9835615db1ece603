package ai.companion.gateway.impl;

import ai.companion.api.Addresses;
import ai.companion.api.ChatMessage;
import ai.companion.api.ErrorCode;
import ai.companion.api.GenerationRequest;
import ai.companion.api.RouteDecision;
import ai.companion.gateway.GatewayOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The knowledge service's part in generation, seen from the gateway.
 *
 * <p>The extractive answer: when {@code "auto"} finds no generative model to run (the router fails with
 * {@code no_worker} or {@code model_not_found}, as on a fresh machine), the question goes to
 * {@link Addresses#KNOWLEDGE_ANSWER} and its best supporting sentences are the completion, in OpenAI's shape,
 * streamed or not, with {@code companion.route} (model and strategy {@code extractive}, this node, the reasons)
 * and {@code companion.citations}. The knowledge service logs that question itself. Should it be absent too, the
 * client gets the router's error as it was. {@link #instead} is that decision for every door: REST here, the
 * WebSocket and gRPC doors send the same {@link Extractive} in their own frames.
 *
 * <p>The interaction log: every generation a model finished is sent to {@link Addresses#KNOWLEDGE_INTERACTION}
 * (question, route, answer, request id, tenant), fire-and-forget with a short timeout, so that patterns and gaps
 * see the real traffic; a missing or slow knowledge service never touches the user's request.
 */
public final class KnowledgeAnswers {
  private static final Logger LOG = LoggerFactory.getLogger(KnowledgeAnswers.class);

  /** The model and strategy named in the route of an extractive answer. */
  public static final String EXTRACTIVE = "extractive";
  /** How long an interaction log message waits for the knowledge service (nobody waits for it). */
  public static final long LOG_TIMEOUT_MS = 2_000;
  /** Questions are cut to this many characters (the embedding model reads far fewer anyway). */
  public static final int MAX_QUESTION_CHARS = 2_000;
  /** The hint set on internal sub-generations (map steps): those are not the user's interactions. */
  static final String HINT_PHASE = "phase";
  private static final Pattern WORD = Pattern.compile("\\S+\\s*|\\s+");

  private KnowledgeAnswers() {}

  /** What the knowledge service answered, ready to send. */
  public record Extractive(RouteDecision route, String text, JsonArray citations, boolean answered,
                           String interactionId) {
    /** {@code companion}: the route, the citations, whether it answered and the interaction id, as REST sends it. */
    public JsonObject companion() {
      JsonObject c = OpenAiResponses.companion(route, List.of()).put("citations", citations.copy())
          .put("answered", answered);
      if (interactionId != null) c.put("interaction_id", interactionId);
      return c;
    }

    /** The text cut into the pieces a stream sends: word by word, spaces kept, nothing lost. */
    public List<String> pieces() {
      List<String> out = new ArrayList<>();
      Matcher m = WORD.matcher(text);
      while (m.find()) out.add(m.group());
      return out;
    }
  }

  /**
   * What every door does when a generation could not be placed: "auto" with no generative model gets the
   * knowledge base's extractive answer; anything else, or a knowledge service that fails too, fails with
   * {@code err} as it was (so a named model that does not exist keeps its not-found error).
   */
  public static Future<Extractive> instead(Vertx vertx, GatewayOptions options, GenerationRequest request,
                                           Throwable err) {
    if (!noGenerativeModel(request, err)) return Future.failedFuture(err);
    return answer(vertx, options, request, err).recover(kerr -> {
      LOG.debug("Request {}: no extractive answer either: {}", request.requestId(), kerr.toString());
      return Future.failedFuture(err);
    });
  }

  /** Whether a routing failure should be answered extractively: "auto" asked, no generative model to run it. */
  static boolean noGenerativeModel(GenerationRequest request, Throwable err) {
    String model = request.model();
    boolean auto = model == null || model.isBlank() || "auto".equals(model);
    ErrorCode code = ErrorCode.of(err);
    return auto && (code == ErrorCode.NO_WORKER || code == ErrorCode.MODEL_NOT_FOUND)
        && question(request) != null;
  }

  /** The user's question: the last user message of a chat, else the prompt; null when blank. */
  static String question(GenerationRequest request) {
    String q = null;
    if (request.chat()) {
      List<ChatMessage> msgs = request.messages();
      for (int i = msgs.size() - 1; i >= 0 && q == null; i--) {
        if (msgs.get(i).role().equals("user")) q = msgs.get(i).content();
      }
    } else {
      q = request.prompt();
    }
    if (q == null || q.isBlank()) return null;
    q = q.strip();
    return q.length() > MAX_QUESTION_CHARS ? q.substring(0, MAX_QUESTION_CHARS) : q;
  }

  /** Asks the knowledge service; fails as it does (absent: {@code no_worker}). */
  static Future<Extractive> answer(Vertx vertx, GatewayOptions options, GenerationRequest request, Throwable why) {
    JsonObject msg = new JsonObject().put("question", question(request)).put("log", true)
        .put("request_id", request.requestId());
    Object tenant = request.hints().getValue("tenant");
    if (tenant instanceof String t) msg.put("tenant", t);
    return vertx.eventBus().<Object>request(Addresses.KNOWLEDGE_ANSWER, msg,
            new DeliveryOptions().setSendTimeout(options.getRequestTimeoutMs()))
        .map(reply -> {
          JsonObject a = GenerationCall.json(reply.body());
          boolean answered = a.getBoolean("answered", false);
          JsonArray cites = a.getJsonArray("citations", new JsonArray());
          List<String> reasons = new ArrayList<>();
          reasons.add("no generative model: " + why.getMessage());
          Object best = a.getValue("best_score");
          String score = best instanceof Number n ? String.format(Locale.ROOT, "%.3f", n.doubleValue()) : "none";
          reasons.add(answered ? "extractive answer from the knowledge base, best score " + score
              : "the knowledge base holds no good answer, best score " + score);
          if (!cites.isEmpty()) {
            Set<String> docs = new LinkedHashSet<>();
            for (int i = 0; i < cites.size(); i++) docs.add(cites.getJsonObject(i).getString("document_id"));
            reasons.add(cites.size() + " sentence(s) cited from " + String.join(", ", docs));
          }
          reasons.add("import a model to get generated answers (./companion import)");
          RouteDecision route = new RouteDecision(EXTRACTIVE, null, options.getNodeName(), EXTRACTIVE, reasons);
          return new Extractive(route, a.getString("answer", ""), cites, answered, a.getString("interaction_id"));
        });
  }

  /** Writes the answer as a completion: one JSON body, or SSE chunks word by word and {@code [DONE]}. */
  static void respond(RoutingContext ctx, String id, boolean chat, boolean stream, boolean includeUsage,
                      Extractive e) {
    HttpServerResponse resp = ctx.response();
    if (resp.closed() || resp.ended()) return;
    long created = System.currentTimeMillis() / 1000;
    String model = e.route().model();
    JsonObject companion = e.companion();
    resp.putHeader(OpenAiResponses.ROUTE_HEADER, OpenAiResponses.headerValue(e.route()));
    JsonObject usage = OpenAiResponses.usage(0, 0);
    if (!stream) {
      JsonObject body = chat ? OpenAiResponses.chatCompletion(id, created, model, e.text(), "stop", usage)
          : OpenAiResponses.completion(id, created, model, e.text(), "stop", usage);
      resp.putHeader(HttpHeaders.CONTENT_TYPE, "application/json").end(body.put("companion", companion).encode());
      return;
    }
    resp.setChunked(true).putHeader(HttpHeaders.CONTENT_TYPE, Sse.CONTENT_TYPE)
        .putHeader(HttpHeaders.CACHE_CONTROL, "no-cache").putHeader("x-accel-buffering", "no");
    List<JsonObject> chunks = new ArrayList<>();
    chunks.add((chat ? OpenAiResponses.chatChunk(id, created, model,
        new JsonObject().put("role", "assistant").put("content", ""), null)
        : OpenAiResponses.completionChunk(id, created, model, "", null)).put("companion", companion));
    for (String piece : e.pieces()) {
      chunks.add(chat ? OpenAiResponses.chatChunk(id, created, model, new JsonObject().put("content", piece), null)
          : OpenAiResponses.completionChunk(id, created, model, piece, null));
    }
    chunks.add(chat ? OpenAiResponses.chatChunk(id, created, model, new JsonObject(), "stop")
        : OpenAiResponses.completionChunk(id, created, model, "", "stop"));
    if (includeUsage) {
      chunks.add((chat ? OpenAiResponses.chatChunk(id, created, model, null, null)
          : OpenAiResponses.completionChunk(id, created, model, null, null)).put("usage", usage));
    }
    // the whole answer is known: a few kilobytes, written at once
    for (JsonObject c : chunks) {
      if (includeUsage && !c.containsKey("usage")) c.putNull("usage");
      resp.write(Sse.event(c));
    }
    resp.end(Sse.DONE);
  }

  /**
   * Logs a finished generation with the knowledge service; never fails, never waits. Internal sub-generations
   * (map steps), a node's warm-up and requests without a question are left out.
   */
  static void logInteraction(Vertx vertx, GenerationRequest request, RouteDecision route, String answer) {
    if (request.hints().containsKey(HINT_PHASE) || request.hints().containsKey(GenerationRequest.HINT_WARM_UP)) return;
    String q = question(request);
    if (q == null) return;
    JsonObject msg = new JsonObject().put("question", q)
        .put("route", (route.strategy() == null ? "direct" : route.strategy()) + ":" + route.model())
        .put("answer", answer).put("request_id", request.requestId());
    Object tenant = request.hints().getValue("tenant");
    if (tenant instanceof String t) msg.put("tenant", t);
    vertx.eventBus().request(Addresses.KNOWLEDGE_INTERACTION, msg, new DeliveryOptions().setSendTimeout(LOG_TIMEOUT_MS))
        .onFailure(err -> LOG.debug("Interaction of request {} not logged with the knowledge service: {}",
            request.requestId(), err.toString()));
  }
}

package ai.companion.gateway.impl;

import ai.companion.api.Addresses;
import ai.companion.gateway.GatewayOptions;
import ai.companion.gateway.security.GatewaySecurity;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.DeliveryOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The knowledge door and feedback: {@code POST /v1/knowledge/documents}, {@code GET /v1/knowledge/search?q=&k=},
 * {@code GET /v1/knowledge/gaps}, {@code GET /v1/knowledge/patterns} and {@code POST /v1/feedback}, validated here
 * and passed over the bus with the caller's tenant (from the API key; absent means public).
 */
public final class KnowledgeEndpoints {

  /** Ingestion embeds and commits durably before answering: allow it longer than a generation request. */
  static final long INGEST_TIMEOUT_MS = 300_000;
  public static final int MAX_K = 100;
  public static final int MAX_LIMIT = 1000;
  private static final Set<String> FORMATS = Set.of("text", "markdown", "html");

  private final Vertx vertx;
  private final GatewayOptions options;

  public KnowledgeEndpoints(Vertx vertx, GatewayOptions options) {
    this.vertx = vertx;
    this.options = options;
  }

  public void ingest(RoutingContext ctx) {
    JsonObject body = OpenAiRequests.object(ctx.body().buffer());
    Object docs = body.getValue("documents");
    if (docs == null) throw missing("documents");
    if (!(docs instanceof JsonArray arr)) throw ApiException.invalid("invalid_type", "documents",
        "Invalid type for 'documents': expected an array of {id, title, text, format}");
    if (arr.isEmpty()) throw ApiException.invalid("empty_array", "documents", "'documents' must not be empty");
    JsonArray clean = new JsonArray();
    for (int i = 0; i < arr.size(); i++) {
      String at = "documents[" + i + "]";
      if (!(arr.getValue(i) instanceof JsonObject d)) {
        throw ApiException.invalid("invalid_type", at, "Invalid type for '" + at + "': expected an object");
      }
      JsonObject out = new JsonObject();
      out.put("id", string(d, "id", at, true));
      out.put("text", string(d, "text", at, true));
      String title = string(d, "title", at, false);
      if (title != null) out.put("title", title);
      String format = string(d, "format", at, false);
      if (format != null) {
        if (!FORMATS.contains(format)) {
          throw ApiException.invalid("invalid_value", at + ".format",
              "Invalid value for '" + at + ".format': \"" + format + "\"; expected text, markdown or html");
        }
        out.put("format", format);
      }
      clean.add(out);
    }
    forward(ctx, Addresses.KNOWLEDGE_INGEST, tenant(ctx, new JsonObject().put("documents", clean)),
        Math.max(INGEST_TIMEOUT_MS, options.getRequestTimeoutMs()));
  }

  public void search(RoutingContext ctx) {
    String q = ctx.request().getParam("q");
    if (q == null || q.isBlank()) throw ApiException.invalid("missing_required_parameter", "q",
        "Missing required query parameter: 'q' (the text to search for)");
    int k = intParam(ctx, "k", 5, 1, MAX_K);
    forward(ctx, Addresses.KNOWLEDGE_SEARCH, tenant(ctx, new JsonObject().put("q", q).put("k", k)),
        options.getRequestTimeoutMs());
  }

  public void gaps(RoutingContext ctx) {
    forward(ctx, Addresses.KNOWLEDGE_GAPS, tenant(ctx, new JsonObject()
        .put("limit", intParam(ctx, "limit", 20, 1, MAX_LIMIT))), options.getRequestTimeoutMs());
  }

  public void patterns(RoutingContext ctx) {
    forward(ctx, Addresses.KNOWLEDGE_PATTERNS, tenant(ctx, new JsonObject()
        .put("limit", intParam(ctx, "limit", 20, 1, MAX_LIMIT))), options.getRequestTimeoutMs());
  }

  /**
   * {@code {"request_id"?, "interaction_id"?, "rating": 1|0|-1, "comment"?, "promote"?}}: a request id goes to the
   * router (it learns which strategy served well), an interaction id to the knowledge service (gaps, promotion).
   */
  public void feedback(RoutingContext ctx) {
    JsonObject body = OpenAiRequests.object(ctx.body().buffer());
    Object rating = body.getValue("rating");
    if (rating == null) throw missing("rating");
    if (!(rating instanceof Number n) || n.doubleValue() != Math.rint(n.doubleValue())
        || Math.abs(n.intValue()) > 1) {
      throw ApiException.invalid("invalid_value", "rating", "'rating' must be 1 (good), 0 or -1 (bad)");
    }
    String requestId = string(body, "request_id", "body", false);
    String interactionId = string(body, "interaction_id", "body", false);
    if (requestId == null && interactionId == null) {
      throw ApiException.invalid("missing_required_parameter", "request_id",
          "Feedback needs 'request_id' (the id of a completion) or 'interaction_id' (from a knowledge answer)");
    }
    Object comment = body.getValue("comment");
    if (comment != null && !(comment instanceof String)) {
      throw ApiException.invalid("invalid_type", "comment", "Invalid type for 'comment': expected a string");
    }
    Object promote = body.getValue("promote");
    if (promote != null && !(promote instanceof Boolean)) {
      throw ApiException.invalid("invalid_type", "promote", "Invalid type for 'promote': expected a boolean");
    }
    DeliveryOptions timeout = new DeliveryOptions().setSendTimeout(options.getRequestTimeoutMs());
    List<Future<?>> sent = new ArrayList<>();
    JsonObject out = new JsonObject().put("recorded", true);
    if (requestId != null) {
      sent.add(vertx.eventBus().request(Addresses.ROUTER_FEEDBACK,
              tenant(ctx, new JsonObject().put("requestId", requestId).put("rating", ((Number) rating).intValue())),
              timeout)
          .onSuccess(r -> out.put("router", GenerationCall.json(r.body()))));
    }
    if (interactionId != null) {
      JsonObject k = new JsonObject().put("interaction_id", interactionId).put("rating", ((Number) rating).intValue());
      if (comment != null) k.put("comment", comment);
      if (promote != null) k.put("promote", promote);
      sent.add(vertx.eventBus().request(Addresses.KNOWLEDGE_FEEDBACK, tenant(ctx, k), timeout)
          .onSuccess(r -> out.put("knowledge", GenerationCall.json(r.body()))));
    }
    Future.all(sent).onFailure(err -> ctx.fail(Failures.fromBus(err, null)))
        .onSuccess(v -> InfoEndpoints.json(ctx, 200, out));
  }

  private void forward(RoutingContext ctx, String address, JsonObject msg, long timeoutMs) {
    vertx.eventBus().request(address, msg, new DeliveryOptions().setSendTimeout(timeoutMs))
        .onFailure(err -> ctx.fail(Failures.fromBus(err, null)))
        .onSuccess(reply -> InfoEndpoints.json(ctx, 200, GenerationCall.json(reply.body())));
  }

  private static JsonObject tenant(RoutingContext ctx, JsonObject msg) {
    String tenant = GatewaySecurity.principal(ctx).tenant();
    if (tenant != null) msg.put("tenant", tenant);
    return msg;
  }

  private static int intParam(RoutingContext ctx, String name, int dflt, int min, int max) {
    String v = ctx.request().getParam(name);
    if (v == null || v.isEmpty()) return dflt;
    int n;
    try {
      n = Integer.parseInt(v.trim());
    } catch (NumberFormatException e) {
      throw ApiException.invalid("invalid_type", name, "Invalid type for '" + name + "': expected an integer, got \""
          + v + "\"");
    }
    if (n < min || n > max) {
      throw ApiException.invalid("invalid_value", name, "Invalid value for '" + name + "': must be between " + min
          + " and " + max + ", got " + n);
    }
    return n;
  }

  private static String string(JsonObject o, String key, String at, boolean required) {
    Object v = o.getValue(key);
    String param = at.equals("body") ? key : at + "." + key;
    if (v == null) {
      if (required) throw missing(param);
      return null;
    }
    if (!(v instanceof String s)) {
      throw ApiException.invalid("invalid_type", param, "Invalid type for '" + param + "': expected a string");
    }
    if (required && s.isBlank()) {
      throw ApiException.invalid("invalid_value", param, "'" + param + "' must not be empty");
    }
    return s;
  }

  private static ApiException missing(String param) {
    return ApiException.invalid("missing_required_parameter", param, "Missing required parameter: '" + param + "'");
  }
}

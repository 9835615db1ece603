package ai.companion.gateway.impl;

import ai.companion.api.CompanionException;
import ai.companion.api.ErrorCode;
import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.HttpException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place that turns a failure into OpenAI's error shape {@code {"error":{"message","type","param","code"}}}
 * with a fitting status. Handlers only fail the routing context; this writes the answer, as JSON, or as an SSE
 * error event followed by {@code [DONE]} when a stream has already begun.
 */
public final class Failures {
  private static final Logger LOG = LoggerFactory.getLogger(Failures.class);

  private Failures() {}

  /** Failure handler and error handler (404, 405, 413, 500) of the gateway's router. */
  public static void handle(RoutingContext ctx) {
    ApiException e = classify(ctx.failure(), ctx.statusCode(), ctx);
    HttpServerResponse resp = ctx.response();
    if (resp.ended() || resp.closed()) {
      LOG.debug("{} {} failed after the response ended: {}", ctx.request().method(), ctx.request().path(),
          e.getMessage());
      return;
    }
    if (resp.headWritten()) {
      // a stream already answered 200: the error travels inside it
      resp.write(Sse.event(body(e))).compose(v -> resp.end(Sse.DONE));
      return;
    }
    if (e.status() == 405) {
      resp.putHeader(HttpHeaders.ALLOW, allowed(ctx.request().path()));
    }
    resp.setStatusCode(e.status()).putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
        .end(body(e).encode());
  }

  public static JsonObject body(ApiException e) {
    return new JsonObject().put("error", new JsonObject().put("message", e.getMessage()).put("type", e.type())
        .put("param", e.param()).put("code", e.code()));
  }

  /** Maps any failure to the error to report; {@code status} is the routing context's status (-1 if none). */
  public static ApiException classify(Throwable t, int status, RoutingContext ctx) {
    if (t instanceof ApiException ae) return ae;
    if (t instanceof CompanionException || t instanceof ReplyException) return fromBus(t, null);
    if (t instanceof DecodeException) {
      return ApiException.invalid("invalid_json", null, "We could not parse the JSON body of your request: "
          + t.getMessage());
    }
    if (t instanceof HttpException he) status = he.getStatusCode();
    if (t != null && !(t instanceof HttpException)) {
      LOG.error("Unexpected failure on {} {}", ctx == null ? "?" : ctx.request().method(),
          ctx == null ? "?" : ctx.request().path(), t);
      return new ApiException(500, "server_error", "internal_error", null, "Internal error: " + t);
    }
    String method = ctx == null ? "" : ctx.request().method().name();
    String path = ctx == null ? "" : ctx.request().path();
    switch (status) {
      case 404:
        return new ApiException(404, "invalid_request_error", "unknown_url", null,
            "Unknown request URL: " + method + " " + path + ". See the API at /v1/models, /v1/completions, "
                + "/v1/chat/completions, /v1/embeddings.");
      case 405:
        return new ApiException(405, "invalid_request_error", "method_not_allowed", null,
            "Method " + method + " is not allowed for " + path + "; allowed: " + allowed(path));
      case 413:
        return new ApiException(413, "invalid_request_error", "request_too_large", null,
            "The request body is larger than this gateway accepts");
      case 400:
        return ApiException.invalid("invalid_request", null, "Bad request");
      default:
        if (status >= 400 && status < 500) {
          return new ApiException(status, "invalid_request_error", "invalid_request", null, "Request refused");
        }
        return new ApiException(500, "server_error", "internal_error", null, "Internal error");
    }
  }

  /** A failure that came back over the event bus, with an optional request field at fault. */
  public static ApiException fromBus(Throwable t, String param) {
    ErrorCode code = ErrorCode.of(t);
    String message = t.getMessage();
    if (t instanceof ReplyException re && !(t instanceof CompanionException)) {
      if (re.failureType() == ReplyFailure.NO_HANDLERS) {
        message = "No service is available to answer (" + message + ")";
      } else if (re.failureType() == ReplyFailure.TIMEOUT) {
        message = "The cluster did not answer in time (" + message + ")";
      }
    }
    String p = param;
    if (t instanceof CompanionException ce && ce.param() != null) p = ce.param();
    if (p == null && (code == ErrorCode.MODEL_NOT_FOUND)) p = "model";
    return ApiException.of(code, p, message == null ? code.code() : message);
  }

  private static String allowed(String path) {
    if (path == null) return "GET";
    if (path.startsWith("/v1/completions") || path.startsWith("/v1/chat/completions")
        || path.startsWith("/v1/embeddings") || path.startsWith("/v1/knowledge/documents")
        || path.startsWith("/v1/feedback")) {
      return "POST";
    }
    return "GET";
  }
}

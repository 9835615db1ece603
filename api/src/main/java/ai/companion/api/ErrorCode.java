package ai.companion.api;

import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;

/**
 * Failures that cross the event bus. Each has an explicit wire number (used as the {@link ReplyException}
 * failure code, never {@code ordinal()}), the HTTP status the gateway answers with and the OpenAI error type.
 */
public enum ErrorCode {
  INVALID_REQUEST(4000, 400, "invalid_request_error"),
  CONTEXT_LENGTH_EXCEEDED(4001, 400, "invalid_request_error"),
  UNAUTHORIZED(4010, 401, "authentication_error"),
  MODEL_NOT_FOUND(4040, 404, "invalid_request_error"),
  NOT_FOUND(4041, 404, "invalid_request_error"),
  RATE_LIMITED(4290, 429, "rate_limit_error"),
  OVERLOADED(5030, 503, "server_error"),
  NO_WORKER(5031, 503, "server_error"),
  WORKER_LOST(5032, 503, "server_error"),
  TIMEOUT(5040, 504, "server_error"),
  INTERNAL(5000, 500, "server_error");

  private final int wire;
  private final int httpStatus;
  private final String openAiType;

  ErrorCode(int wire, int httpStatus, String openAiType) {
    this.wire = wire;
    this.httpStatus = httpStatus;
    this.openAiType = openAiType;
  }

  public int wire() { return wire; }
  public int httpStatus() { return httpStatus; }
  public String openAiType() { return openAiType; }
  /** The OpenAI {@code code} field: the lower-case name, e.g. {@code context_length_exceeded}. */
  public String code() { return name().toLowerCase(java.util.Locale.ROOT); }

  public static ErrorCode fromWire(int wire) {
    for (ErrorCode c : values()) if (c.wire == wire) return c;
    return INTERNAL;
  }

  /** The failure to hand to {@code message.fail(...)} or {@code promise.fail(...)}. */
  public CompanionException exception(String message) {
    return new CompanionException(this, message);
  }

  /** Maps any failure coming back over the bus to a code: typed replies keep theirs, timeouts and missing handlers get theirs. */
  public static ErrorCode of(Throwable t) {
    if (t instanceof CompanionException ce) return ce.code();
    if (t instanceof ReplyException re) {
      if (re.failureType() == ReplyFailure.TIMEOUT) return TIMEOUT;
      if (re.failureType() == ReplyFailure.NO_HANDLERS) return NO_WORKER;
      return fromWire(re.failureCode());
    }
    return INTERNAL;
  }
}

package ai.companion.api;

import io.vertx.core.eventbus.ReplyException;
import io.vertx.core.eventbus.ReplyFailure;

/**
 * A typed failure. It is a {@link ReplyException}, so failing an event-bus message with it sends the wire
 * code and message across the cluster unchanged ({@code message.reply} of a {@code ReplyException} keeps both).
 */
public final class CompanionException extends ReplyException {
  private final ErrorCode code;
  private final String param;

  public CompanionException(ErrorCode code, String message) {
    this(code, message, null);
  }

  public CompanionException(ErrorCode code, String message, String param) {
    super(ReplyFailure.RECIPIENT_FAILURE, code.wire(), message);
    this.code = code;
    this.param = param;
  }

  public ErrorCode code() { return code; }

  /** The request field at fault, for OpenAI's {@code param}; may be null. */
  public String param() { return param; }
}

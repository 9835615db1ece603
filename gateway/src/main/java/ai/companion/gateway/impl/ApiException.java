package ai.companion.gateway.impl;

import ai.companion.api.ErrorCode;

/**
 * A request the gateway refuses, carrying everything the OpenAI error object needs. Route handlers throw it
 * (or fail the routing context with it); {@link Failures} alone writes the response, like vertx-web's
 * {@code HttpException}.
 */
public final class ApiException extends RuntimeException {
  private final int status;
  private final String type;
  private final String code;
  private final String param;

  public ApiException(int status, String type, String code, String param, String message) {
    super(message, null, false, false);
    this.status = status;
    this.type = type;
    this.code = code;
    this.param = param;
  }

  /** A 400 invalid_request_error about one request field. */
  public static ApiException invalid(String code, String param, String message) {
    return new ApiException(400, "invalid_request_error", code, param, message);
  }

  public static ApiException of(ErrorCode code, String param, String message) {
    return new ApiException(code.httpStatus(), code.openAiType(), code.code(), param, message);
  }

  public int status() { return status; }
  public String type() { return type; }
  public String code() { return code; }
  public String param() { return param; }
}

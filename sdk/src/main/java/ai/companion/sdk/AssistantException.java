package ai.companion.sdk;

/** A request the assistant could not serve; {@link #status()} is the gRPC status name (e.g. {@code NOT_FOUND}). */
public class AssistantException extends RuntimeException {
  private final String status;

  public AssistantException(String status, String message) {
    super(message);
    this.status = status;
  }

  public AssistantException(String status, String message, Throwable cause) {
    super(message, cause);
    this.status = status;
  }

  public String status() { return status; }
}

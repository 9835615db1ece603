package ai.companion.sdk;

import java.util.concurrent.CompletableFuture;

/** A running streamed answer: {@link #answer()} completes with the whole answer; {@link #cancel()} stops it. */
public interface Streaming {

  /** Completes with the whole answer, or exceptionally with an {@link AssistantException}. */
  CompletableFuture<Answer> answer();

  /** Stops the generation on the node (its worker frees the sequence); the answer fails as cancelled. */
  void cancel();
}

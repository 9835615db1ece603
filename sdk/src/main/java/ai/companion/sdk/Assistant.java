package ai.companion.sdk;

import java.util.concurrent.Flow;
import java.util.function.Consumer;

/**
 * A deployed assistant, embedded in this JVM or a cluster's gateway reached over gRPC (see
 * {@link AssistantBuilder}). Thread-safe; close it to stop the embedded node or the connection.
 *
 * <pre>{@code
 * try (Assistant assistant = AssistantBuilder.modelType("stories260k").device("auto")
 *     .optimizationLevel(OptimizationLevel.HIGH).deploy()) {
 *   System.out.println(assistant.query("Once upon a time"));
 *   assistant.stream("Once upon a time", System.out::print).answer().join();
 * }
 * }</pre>
 */
public interface Assistant extends AutoCloseable {

  /** The model this assistant asks (as the cluster names it). */
  String model();

  /** The gRPC {@code host:port} this assistant talks to (for an embedded node: its loopback port). */
  String grpcTarget();

  /** Asks and waits for the whole answer's text. */
  default String query(String question) {
    return ask(question).text();
  }

  /** Asks and waits for the whole answer, with how it was routed. */
  Answer ask(String question);

  /** Asks and hands each new piece of text to {@code onText} as it is generated (on an I/O thread). */
  Streaming stream(String question, Consumer<String> onText);

  /**
   * Asks and publishes the answer's text piece by piece, with Reactive Streams demand: the node is asked for
   * more only as the subscriber requests it, and cancelling the subscription stops the generation. One
   * subscriber per publisher; each subscription asks anew.
   */
  Flow.Publisher<String> queryStream(String question);

  /** Stops the embedded node, or closes the connection to the remote one. */
  @Override
  void close();
}

package ai.companion.sdk.example;

import ai.companion.sdk.Answer;
import ai.companion.sdk.Assistant;
import ai.companion.sdk.AssistantBuilder;
import ai.companion.sdk.OptimizationLevel;
import java.nio.file.Path;

/**
 * The SDK in three steps. Embedded (a node inside this JVM, models from ~/.companion or --data-dir):
 *
 * <pre>
 *   java -cp "sdk/target/classes:cluster-config/target/lib/*" ai.companion.sdk.example.QuickStart \
 *       [--import stories260K.bin tok512.bin] [--data-dir DIR] [--remote HOST:PORT] [QUESTION]
 * </pre>
 *
 * With {@code --remote} it asks a running cluster's gateway over gRPC instead.
 */
public final class QuickStart {
  private QuickStart() {}

  public static void main(String[] args) {
    Path checkpoint = null;
    Path tokenizer = null;
    Path dataDir = null;
    String remote = null;
    String question = "Once upon a time";
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--import" -> {
          checkpoint = Path.of(args[++i]);
          tokenizer = Path.of(args[++i]);
        }
        case "--data-dir" -> dataDir = Path.of(args[++i]);
        case "--remote" -> remote = args[++i];
        default -> question = args[i];
      }
    }
    AssistantBuilder builder = remote != null
        ? AssistantBuilder.remote(remote).model("stories260k")
        : AssistantBuilder.modelType("stories260k").device("auto").optimizationLevel(OptimizationLevel.HIGH);
    if (dataDir != null) builder.dataDir(dataDir);
    if (checkpoint != null) builder.importModel(checkpoint, tokenizer);
    try (Assistant assistant = builder.maxTokens(120).deploy()) {
      // 1. the whole answer at once
      System.out.println("query:  " + assistant.query(question));
      // 2. token by token, as it is generated
      System.out.print("stream: ");
      Answer answer = assistant.stream(question, System.out::print).answer().join();
      System.out.println();
      System.out.println("(model " + answer.model() + ", strategy " + answer.strategy() + ", worker " + answer.worker()
          + ", " + answer.completionTokens() + " tokens, " + answer.finishReason() + ")");
    }
  }
}

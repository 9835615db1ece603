package ai.companion.sdk;

import java.util.List;

/**
 * A whole answer and how it was produced.
 *
 * @param text the generated text
 * @param model the model that answered
 * @param strategy how the router served it (e.g. {@code direct}, {@code knowledge})
 * @param worker the node whose worker generated it
 * @param reasons why the router chose so, most important first
 * @param finishReason {@code stop} (end of text or a stop sequence) or {@code length} (the token limit)
 */
public record Answer(String text, String model, String strategy, String worker, List<String> reasons,
                     String finishReason, int promptTokens, int completionTokens) {
  public Answer {
    reasons = reasons == null ? List.of() : List.copyOf(reasons);
  }
}

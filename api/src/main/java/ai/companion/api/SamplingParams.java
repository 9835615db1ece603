package ai.companion.api;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;

/**
 * How to pick tokens. Validated once, by the gateway; workers trust it.
 *
 * @param temperature 0 means greedy (argmax) and deterministic
 * @param topP nucleus mass in (0, 1]
 * @param topK 0 means no limit
 * @param seed null means a fresh random seed; set, sampling is repeatable
 * @param maxTokens tokens to generate at most; null means up to the model's context
 * @param stop stop sequences; the text stops before the first one found
 * @param repetitionPenalty 1 means none; greater than 1 discourages tokens already in the sequence
 */
public record SamplingParams(double temperature, double topP, int topK, Long seed, Integer maxTokens,
                             List<String> stop, double repetitionPenalty) {

  public static final double DEFAULT_TEMPERATURE = 1.0;
  public static final SamplingParams GREEDY = new SamplingParams(0, 1, 0, null, null, List.of(), 1);

  public SamplingParams {
    stop = stop == null ? List.of() : List.copyOf(stop);
  }

  public boolean greedy() { return temperature == 0; }

  public SamplingParams withMaxTokens(Integer max) {
    return new SamplingParams(temperature, topP, topK, seed, max, stop, repetitionPenalty);
  }

  public JsonObject toJson() {
    return new JsonObject().put("temperature", temperature).put("top_p", topP).put("top_k", topK)
        .put("seed", seed).put("max_tokens", maxTokens).put("stop", new JsonArray(stop))
        .put("repetition_penalty", repetitionPenalty);
  }

  public static SamplingParams fromJson(JsonObject j) {
    if (j == null) return GREEDY;
    JsonArray stop = j.getJsonArray("stop", new JsonArray());
    return new SamplingParams(j.getDouble("temperature", DEFAULT_TEMPERATURE), j.getDouble("top_p", 1.0),
        j.getInteger("top_k", 0), j.getLong("seed"), j.getInteger("max_tokens"),
        stop.stream().map(String::valueOf).toList(), j.getDouble("repetition_penalty", 1.0));
  }
}

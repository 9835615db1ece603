package ai.companion.api.spi;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Map;

/**
 * The features of one request.
 *
 * @param input the normalised input
 * @param tokens estimated prompt tokens for a generic sub-word tokenizer
 * @param tokensByModel prompt tokens per served model: counted or calibrated on that model's tokenizer
 * @param language ISO 639-1 code, or {@code und} when undecided
 * @param languageConfidence 0..1
 * @param domainScores model id to cosine similarity between the input and the model's domain profile
 * @param domainSource how the scores were computed: {@code embedding}, {@code lexical} or {@code none}
 * @param latency {@code interactive} or {@code batch} from the request's hint, or null when the request
 *     set none (the policy then applies its per-key default)
 * @param questionScore 0..1: how much the input reads as a question that seeks facts
 * @param knowledgeScore the knowledge service's best hit score for the query, or NaN when unknown
 * @param knowledgeHits the knowledge service's results (best first), empty when none or unknown
 * @param pattern a coarse key of the question's shape; the strategy learner keeps statistics per pattern
 * @param notes short human-readable findings, most telling first, for the explanation
 * @param extra features a plugin adds
 */
public record Intent(NormalizedInput input, int tokens, Map<String, Integer> tokensByModel, String language,
                     double languageConfidence, Map<String, Double> domainScores, String domainSource,
                     String latency, double questionScore, double knowledgeScore, JsonArray knowledgeHits,
                     String pattern, List<String> notes, JsonObject extra) {

  public Intent {
    tokensByModel = tokensByModel == null ? Map.of() : Map.copyOf(tokensByModel);
    domainScores = domainScores == null ? Map.of() : Map.copyOf(domainScores);
    knowledgeHits = knowledgeHits == null ? new JsonArray() : knowledgeHits;
    notes = notes == null ? List.of() : List.copyOf(notes);
    extra = extra == null ? new JsonObject() : extra;
  }

  /** Prompt tokens on {@code model}'s tokenizer: its own count when known, else the generic estimate. */
  public int tokensFor(String model) {
    return tokensByModel.getOrDefault(model, tokens);
  }

  public JsonObject toJson() {
    JsonObject scores = new JsonObject();
    domainScores.forEach((k, v) -> scores.put(k, Math.round(v * 1000) / 1000.0));
    JsonObject byModel = new JsonObject();
    tokensByModel.forEach(byModel::put);
    return new JsonObject().put("tokens", tokens).put("tokensByModel", byModel).put("language", language)
        .put("languageConfidence", Math.round(languageConfidence * 100) / 100.0).put("domainScores", scores)
        .put("domainSource", domainSource).put("latency", latency)
        .put("questionScore", Math.round(questionScore * 100) / 100.0)
        .put("knowledgeScore", Double.isNaN(knowledgeScore) ? null : knowledgeScore).put("pattern", pattern)
        .put("extra", extra);
  }
}

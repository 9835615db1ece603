package ai.companion.router.impl;

import ai.companion.api.ModelInfo;
import ai.companion.api.spi.DomainProfile;
import ai.companion.api.spi.Intent;
import ai.companion.api.spi.IntentRecognizer;
import ai.companion.api.spi.NormalizedInput;
import ai.companion.api.spi.StageContext;
import io.vertx.core.Future;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The default intent recogniser. Length, language and question-likeness are computed on the spot; the
 * domain (cosine to each model's profile, by embedding, else by hashed words) and the knowledge hit score
 * are asked of the embedding and knowledge services in parallel, each bounded by the context's timeouts.
 */
public class FeatureRecognizer implements IntentRecognizer {

  /** Characters of the query embedded for the domain (MiniLM reads 256 word pieces at most anyway). */
  static final int EMBED_CHARS = 1000;
  static final double QUESTION_THRESHOLD = 0.5;
  /** Characters read for the language: plenty for script and function words, cheap for long documents. */
  static final int LANGUAGE_CHARS = 1000;
  static final double HIT_THRESHOLD = 0.5;

  @Override
  public String name() {
    return "features";
  }

  @Override
  public Future<Intent> recognize(NormalizedInput input, StageContext ctx) {
    Map<String, DomainProfile> profiles = ctx.profiles();
    double question = TextFeatures.questionScore(input.query());
    boolean embedded = profiles.values().stream().anyMatch(p -> p.embedding() != null);
    double shortcut = ctx.config().getDouble("lexicalShortcutMargin", 0.0);
    if (embedded && shortcut > 0 && lexicalMargin(input.query(), ctx.models(), profiles) >= shortcut) {
      // the words alone already tell the domains apart: spare the embedding call
      embedded = false;
    }
    Future<float[]> embedding = embedded
        ? ctx.embed(truncate(input.query(), EMBED_CHARS)) : Future.failedFuture("no embedded profile");
    Future<JsonObject> hits = question >= QUESTION_THRESHOLD
        ? ctx.searchKnowledge(input.query(), 3) : Future.failedFuture("not a question");
    return Future.join(embedding, hits).transform(ignored -> Future.succeededFuture(
        build(input, ctx.models(), profiles, question,
            embedding.succeeded() ? embedding.result() : null,
            hits.succeeded() ? hits.result() : null)));
  }

  /** How far the best lexical domain match is ahead of the second (0 with fewer than two profiles). */
  static double lexicalMargin(String query, List<ModelInfo> models, Map<String, DomainProfile> profiles) {
    float[] lex = LexicalVector.of(truncate(query, EMBED_CHARS));
    Map<String, Double> scores = new HashMap<>();
    for (ModelInfo m : models) {
      DomainProfile p = profiles.get(m.id());
      if (p != null && p.lexical() != null) scores.put(m.id(), LexicalVector.dot(lex, p.lexical()));
    }
    if (scores.size() < 2) return 0;
    double[] top = YamlRoutingPolicy.topTwo(scores);
    return top[0] - top[1];
  }

  /** The features from what the services answered (null: did not answer). Pure: the benchmark calls it. */
  public static Intent build(NormalizedInput input, List<ModelInfo> models, Map<String, DomainProfile> profiles,
                             double question, float[] embedding, JsonObject knowledge) {
    JsonArray hits = knowledge == null ? null : knowledge.getJsonArray("results", new JsonArray());
    String text = input.text();
    int tokens = TextFeatures.estimateTokens(text);
    Map<String, Integer> byModel = new HashMap<>();
    for (ModelInfo m : models) {
      DomainProfile p = profiles.get(m.id());
      if (p != null && p.charsPerToken() > 0) byModel.put(m.id(), TextFeatures.tokensAt(text, p.charsPerToken()));
    }
    LanguageDetector.Result lang = LanguageDetector.detect(truncate(text, LANGUAGE_CHARS));

    Map<String, Double> domain = new HashMap<>();
    String source = "none";
    if (embedding != null) {
      for (ModelInfo m : models) {
        DomainProfile p = profiles.get(m.id());
        if (p != null && p.embedding() != null) domain.put(m.id(), LexicalVector.dot(embedding, p.embedding()));
      }
      if (!domain.isEmpty()) source = "embedding";
    }
    if (domain.isEmpty() && !profiles.isEmpty()) {
      float[] lex = LexicalVector.of(truncate(input.query(), EMBED_CHARS));
      for (ModelInfo m : models) {
        DomainProfile p = profiles.get(m.id());
        if (p != null && p.lexical() != null) domain.put(m.id(), LexicalVector.dot(lex, p.lexical()));
      }
      if (!domain.isEmpty()) source = "lexical";
    }

    double kscore = Double.NaN;
    if (knowledge != null) {
      // best_score is the knowledge service's cosine of the best hit; else the hits' own similarity or score
      if (knowledge.getValue("best_score") instanceof Number n) {
        kscore = n.doubleValue();
      } else {
        kscore = 0;
        for (Object o : hits) {
          if (!(o instanceof JsonObject h)) continue;
          Object v = h.getValue("similarity", h.getValue("score"));
          if (v instanceof Number n) kscore = Math.max(kscore, n.doubleValue());
        }
      }
    }
    String latency = null;
    Object hint = input.hints().getValue("latency");
    if (hint instanceof String s && (s.equals("interactive") || s.equals("batch"))) latency = s;

    String kb = Double.isNaN(kscore) ? "none" : kscore >= HIT_THRESHOLD ? "hit" : "miss";
    String pattern = lang.language() + ":" + TextFeatures.shape(input.query()) + "/"
        + TextFeatures.lengthBucket(tokens) + "/" + kb;
    List<String> notes = new ArrayList<>();
    notes.add(String.format(Locale.ROOT, "features: %d tokens (estimated%s), language %s (%.2f), question %.2f, "
            + "latency %s, knowledge %s", tokens, byModel.isEmpty() ? "" : "; calibrated per model " + byModel,
        lang.language(), lang.confidence(), question, latency == null ? "default" : latency,
        Double.isNaN(kscore) ? "n/a" : String.format(Locale.ROOT, "%.2f", kscore)));
    return new Intent(input, tokens, byModel, lang.language(), lang.confidence(), domain, source, latency,
        question, kscore, hits == null ? new JsonArray() : hits, pattern, notes, new JsonObject());
  }

  static String truncate(String s, int n) {
    return s.length() <= n ? s : s.substring(0, n);
  }
}

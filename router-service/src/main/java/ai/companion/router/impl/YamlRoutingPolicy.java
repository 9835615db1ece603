package ai.companion.router.impl;

import ai.companion.api.ModelInfo;
import ai.companion.api.spi.Intent;
import ai.companion.api.spi.RoutePlan;
import ai.companion.api.spi.RoutingPolicy;
import ai.companion.api.spi.StageContext;
import ai.companion.api.spi.StrategyLearner;
import ai.companion.router.RouterOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The default routing policy: a YAML file of rules plus defaults ({@code DATA_DIR/router/policy.yaml}, written
 * from the built-in default on first start), reloaded when its modification time changes. A file that fails
 * to parse or validate keeps the previous policy and logs why; {@link #lastError()} says it too.
 */
public class YamlRoutingPolicy implements RoutingPolicy {
  private static final Logger LOG = LoggerFactory.getLogger(YamlRoutingPolicy.class);

  public static final String DEFAULT_RESOURCE = "/ai/companion/router/default-policy.yaml";

  private volatile Policy policy;
  private volatile String lastError;
  private volatile long loadedMtime = Long.MIN_VALUE;
  private volatile int generation;
  private Path path;
  private Vertx vertx;
  private long timer = -1;

  @Override
  public String name() {
    return "yaml-policy";
  }

  public static String defaultPolicyText() {
    try (InputStream in = YamlRoutingPolicy.class.getResourceAsStream(DEFAULT_RESOURCE)) {
      if (in == null) throw new IllegalStateException(DEFAULT_RESOURCE + " is missing from the class path");
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** For tests and the benchmark: a policy in force without a file. */
  public static YamlRoutingPolicy of(Policy p) {
    YamlRoutingPolicy y = new YamlRoutingPolicy();
    y.policy = p;
    y.generation = 1;
    return y;
  }

  @Override
  public Future<Void> start(StageContext ctx) {
    RouterOptions opts = new RouterOptions(ctx.config());
    vertx = ctx.vertx();
    path = opts.policyPath();
    return vertx.executeBlocking(() -> {
      if (!Files.exists(path)) {
        Files.createDirectories(path.toAbsolutePath().getParent());
        Files.writeString(path, defaultPolicyText(), StandardCharsets.UTF_8);
        LOG.info("Wrote the default routing policy to {}", path);
      }
      long mtime = Files.getLastModifiedTime(path).toMillis();
      // the first load must succeed: a node must not start on a policy nobody can read
      try {
        policy = Policy.parse(Files.readString(path, StandardCharsets.UTF_8));
      } catch (Policy.PolicyException e) {
        throw new IllegalStateException("Routing policy " + path + " is invalid: " + e.getMessage());
      }
      loadedMtime = mtime;
      generation = 1;
      LOG.info("Routing policy {} loaded: {} rule(s)", path, policy.rules().size());
      return null;
    }).compose(v -> {
      timer = vertx.setPeriodic(opts.getPolicyReloadMs(), id -> checkReload());
      return Future.<Void>succeededFuture();
    });
  }

  @Override
  public Future<Void> stop() {
    if (timer >= 0 && vertx != null) vertx.cancelTimer(timer);
    return Future.succeededFuture();
  }

  private boolean checking;

  private void checkReload() {
    if (checking) return;
    checking = true;
    vertx.executeBlocking(() -> {
      if (!Files.exists(path)) return null;
      long mtime = Files.getLastModifiedTime(path).toMillis();
      if (mtime == loadedMtime) return null;
      loadedMtime = mtime;
      try {
        Policy p = Policy.parse(Files.readString(path, StandardCharsets.UTF_8));
        policy = p;
        lastError = null;
        generation++;
        LOG.info("Routing policy {} reloaded: {} rule(s) (generation {})", path, p.rules().size(), generation);
      } catch (Policy.PolicyException e) {
        lastError = e.getMessage();
        LOG.warn("Routing policy {} changed but is invalid, keeping the previous one: {}", path, e.getMessage());
      }
      return null;
    }).onComplete(ar -> {
      checking = false;
      if (ar.failed()) LOG.warn("Cannot check routing policy {}: {}", path, ar.cause().toString());
    });
  }

  public Policy policy() { return policy; }

  /** Why the latest change of the file was rejected; null when the file in force is the file on disk. */
  public String lastError() { return lastError; }

  public int generation() { return generation; }

  @Override
  public Future<RoutePlan> decide(Intent intent, StageContext ctx) {
    try {
      return Future.succeededFuture(decideNow(intent, ctx.models(), ctx.learner()));
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
  }

  /** The decision, synchronously (it never waits on anything). */
  public RoutePlan decideNow(Intent intent, List<ModelInfo> models, StrategyLearner learner) {
    Policy p = policy;
    if (models.isEmpty()) throw new IllegalStateException("no model to route to");
    String latency = effectiveLatency(intent, p);
    List<ModelInfo> fitting = models.stream().filter(m -> fits(intent, m)).toList();
    boolean exceeds = fitting.isEmpty();
    List<String> skipped = new ArrayList<>();
    for (Policy.Rule rule : p.rules()) {
      List<String> why = new ArrayList<>();
      if (!matches(rule.when(), intent, latency, exceeds, p, why)) continue;
      List<String> reasons = new ArrayList<>();
      ModelInfo m = select(rule.model(), exceeds ? models : fitting, intent, reasons);
      if (m == null) {
        skipped.add("rule '" + rule.name() + "' matched but model '" + rule.model() + "' is not served");
        continue;
      }
      reasons.add(0, "policy rule '" + rule.name() + "': " + String.join(", ", why));
      return finish(rule.strategy(), rule.learn(), rule.priors(), m, intent, learner, reasons, skipped, latency,
          models);
    }
    List<String> reasons = new ArrayList<>();
    ModelInfo m = select(p.defaults().model(), exceeds ? models : fitting, intent, reasons);
    if (m == null) m = select("smallest", exceeds ? models : fitting, intent, reasons);
    reasons.add(0, "policy defaults (no rule matched): model " + p.defaults().model() + ", strategy "
        + p.defaults().strategy());
    return finish(p.defaults().strategy(), List.of(), Map.of(), m, intent, learner, reasons, skipped, latency,
        models);
  }

  private RoutePlan finish(String fixed, List<String> learn, Map<String, double[]> priors, ModelInfo m,
                           Intent intent, StrategyLearner learner, List<String> reasons, List<String> skipped,
                           String latency, List<ModelInfo> models) {
    boolean knowledgeKnown = !Double.isNaN(intent.knowledgeScore());
    String strategy;
    String pattern = null;
    if (fixed != null) {
      strategy = fixed;
      if (strategy.equals("knowledge") && !knowledgeKnown) {
        strategy = "direct";
        reasons.add("strategy direct: knowledge service did not answer");
      }
    } else {
      List<String> arms = new ArrayList<>(learn);
      if (!knowledgeKnown && arms.remove("knowledge")) {
        reasons.add("knowledge strategy left out: knowledge service did not answer");
      }
      if (arms.isEmpty()) arms.add("direct");
      pattern = intent.pattern();
      StrategyLearner.Pick pick = learner.choose(pattern, arms, priors);
      strategy = pick.arm();
      reasons.add(pick.reason());
    }
    JsonObject plan = new JsonObject().put("latency", latency);
    if (strategy.equals("knowledge") && passageBudget(intent, m) < MIN_PASSAGE_TOKENS) {
      // the passages must fit beside the question and the answer: the next model by size with room, else none
      ModelInfo roomy = models.stream().filter(x -> passageBudget(intent, x) >= MIN_PASSAGE_TOKENS)
          .min(Comparator.comparingLong(ModelInfo::parameters).thenComparing(ModelInfo::id)).orElse(null);
      if (roomy != null) {
        reasons.add("model " + roomy.id() + " instead of " + m.id() + ": its " + roomy.contextLength()
            + "-token context has room for the passages");
        m = roomy;
      } else {
        reasons.add("strategy direct: no served context has room for passages beside the question and answer");
        strategy = "direct";
      }
    }
    if (strategy.equals("knowledge")) {
      int budgetChars = (int) Math.floor(passageBudget(intent, m) * charsPerToken(intent, m) * SIZE_SAFETY);
      JsonArray passages = new JsonArray();
      int used = 0;
      for (int i = 0; i < Math.min(3, intent.knowledgeHits().size()) && used < budgetChars; i++) {
        if (!(intent.knowledgeHits().getValue(i) instanceof JsonObject hit)) continue;
        String text = hit.getString("text", "");
        if (text.length() > budgetChars - used) text = text.substring(0, budgetChars - used);
        used += text.length() + 1;
        passages.add(hit.copy().put("text", text));
      }
      plan.put("passages", passages).put("passageChars", budgetChars);
      reasons.add(String.format(Locale.ROOT, "knowledge: best hit %.2f, %d passage(s) (%d of %d characters that "
          + "fit) to ground the answer", intent.knowledgeScore(), passages.size(), used, budgetChars));
    } else if (strategy.equals("chunked")) {
      int ctxLen = m.contextLength();
      int answer = Math.min(answerTokens(intent, m), ctxLen / 2);
      int chunkTokens = Math.max(8, ctxLen - answer - 8);
      int tokens = intent.tokensFor(m.id());
      int chunks = (int) Math.ceil(tokens / (double) chunkTokens);
      int chunkChars = (int) Math.max(16, Math.floor(chunkTokens * charsPerToken(intent, m) * SIZE_SAFETY));
      plan.put("chunkTokens", chunkTokens).put("chunkChars", chunkChars).put("overlapChars", chunkChars / 10)
          .put("chunks", chunks).put("answerTokens", answer)
          .put("map", "summarise each chunk").put("reduce", "answer from the chunk summaries");
      reasons.add("chunked: " + tokens + " prompt tokens exceed " + m.id() + "'s " + ctxLen
          + "-token context; " + chunks + " chunk(s) of " + chunkTokens + " tokens, map then reduce");
    }
    reasons.addAll(skipped);
    return new RoutePlan(m.id(), strategy, pattern, reasons, plan);
  }

  static String effectiveLatency(Intent intent, Policy p) {
    if (intent.latency() != null) return intent.latency();
    String key = apiKey(intent.input().hints());
    if (key != null && p.latencyByKey().containsKey(key)) return p.latencyByKey().get(key);
    return p.defaults().latency();
  }

  static String apiKey(JsonObject hints) {
    for (String k : List.of("apiKeyId", "apiKey", "tenant")) {
      Object v = hints.getValue(k);
      if (v instanceof String s && !s.isBlank()) return s;
    }
    return null;
  }

  /** Tokens kept for the answer: max_tokens when set (workers refuse prompt + max_tokens over the context). */
  static int answerTokens(Intent intent, ModelInfo m) {
    Integer max = intent.input().maxTokens();
    return max != null ? max : Math.max(16, m.contextLength() / 8);
  }

  /** Whether the prompt plus the answer fits {@code m}'s context. */
  static boolean fits(Intent intent, ModelInfo m) {
    int ctxLen = m.contextLength();
    if (ctxLen <= 0) return true;
    return intent.tokensFor(m.id()) + answerTokens(intent, m) <= ctxLen;
  }

  /** Characters per prompt token on {@code m} as the intent measured them. */
  static double charsPerToken(Intent intent, ModelInfo m) {
    int t = intent.tokensFor(m.id());
    return t <= 0 ? TextFeatures.GENERIC_CHARS_PER_TOKEN : Math.max(0.5, intent.input().text().length() / (double) t);
  }

  /** Tokens left for retrieved passages on {@code m}: context minus prompt, answer and a little framing. */
  static int passageBudget(Intent intent, ModelInfo m) {
    if (m.contextLength() <= 0) return Integer.MAX_VALUE;
    return m.contextLength() - intent.tokensFor(m.id()) - answerTokens(intent, m) - 8;
  }

  /**
   * Token counts here are estimates (characters per token vary with the text), and a worker refuses a prompt
   * one token too long; sizes the plan hands out (passage and chunk characters) keep this share of the room.
   */
  static final double SIZE_SAFETY = 0.8;

  /** Knowledge augmentation is worth it only with room for at least this many passage tokens. */
  static final int MIN_PASSAGE_TOKENS = 24;

  private static boolean matches(Policy.When w, Intent intent, String latency, boolean exceeds, Policy p,
                                 List<String> why) {
    if (w.question() != null) {
      boolean q = intent.questionScore() >= p.defaults().questionThreshold();
      if (q != w.question()) return false;
      why.add(String.format(Locale.ROOT, "%s (question score %.2f)", q ? "a question" : "not a question",
          intent.questionScore()));
    }
    if (w.minTokens() != null) {
      if (intent.tokens() < w.minTokens()) return false;
      why.add(intent.tokens() + " tokens >= " + w.minTokens());
    }
    if (w.maxTokens() != null) {
      if (intent.tokens() > w.maxTokens()) return false;
      why.add(intent.tokens() + " tokens <= " + w.maxTokens());
    }
    if (w.exceedsContext() != null) {
      if (exceeds != w.exceedsContext()) return false;
      why.add(exceeds ? "the prompt fits no served model's context" : "the prompt fits a context");
    }
    if (w.language() != null) {
      if (!w.language().contains(intent.language())) return false;
      why.add("language " + intent.language());
    }
    if (w.latency() != null) {
      if (!w.latency().equals(latency)) return false;
      why.add("latency " + latency);
    }
    if (w.minDomainScore() != null || w.minDomainMargin() != null) {
      double[] top = topTwo(intent.domainScores());
      if (Double.isNaN(top[0])) return false;
      if (w.minDomainScore() != null && top[0] < w.minDomainScore()) return false;
      if (w.minDomainMargin() != null && top[0] - top[1] < w.minDomainMargin()) return false;
      why.add(String.format(Locale.ROOT, "domain match %.2f (margin %.2f)", top[0],
          Double.isNaN(top[1]) ? top[0] : top[0] - top[1]));
    }
    if (w.minKnowledgeScore() != null) {
      if (Double.isNaN(intent.knowledgeScore()) || intent.knowledgeScore() < w.minKnowledgeScore()) return false;
      why.add(String.format(Locale.ROOT, "knowledge hit %.2f", intent.knowledgeScore()));
    }
    if (why.isEmpty()) why.add("unconditional");
    return true;
  }

  /** Best and second-best domain score; NaN when absent (second: 0 when only one model has a profile). */
  static double[] topTwo(Map<String, Double> scores) {
    double a = Double.NaN;
    double b = Double.NaN;
    for (double s : scores.values()) {
      if (Double.isNaN(a) || s > a) {
        b = a;
        a = s;
      } else if (Double.isNaN(b) || s > b) {
        b = s;
      }
    }
    if (!Double.isNaN(a) && Double.isNaN(b)) b = 0;
    return new double[] {a, b};
  }

  private static ModelInfo select(String selector, List<ModelInfo> candidates, Intent intent,
                                  List<String> reasons) {
    if (candidates.isEmpty()) return null;
    Comparator<ModelInfo> byId = Comparator.comparing(ModelInfo::id);
    switch (selector) {
      case "smallest": {
        ModelInfo m = candidates.stream().min(Comparator.comparingLong(ModelInfo::parameters).thenComparing(byId)).get();
        reasons.add("model " + m.id() + ": smallest that fits (" + m.parameters() + " parameters)");
        return m;
      }
      case "largest": {
        ModelInfo m = candidates.stream().max(Comparator.comparingLong(ModelInfo::parameters)
            .thenComparing(byId.reversed())).get();
        reasons.add("model " + m.id() + ": largest that fits (" + m.parameters() + " parameters)");
        return m;
      }
      case "largest-context": {
        ModelInfo m = candidates.stream().max(Comparator.comparingInt(ModelInfo::contextLength)
            .thenComparing(byId.reversed())).get();
        reasons.add("model " + m.id() + ": largest context (" + m.contextLength() + " tokens)");
        return m;
      }
      case "domain": {
        ModelInfo best = null;
        double bestScore = Double.NEGATIVE_INFINITY;
        List<String> scores = new ArrayList<>();
        List<ModelInfo> sorted = new ArrayList<>(candidates);
        sorted.sort(Comparator.comparingDouble((ModelInfo m) ->
            -intent.domainScores().getOrDefault(m.id(), Double.NEGATIVE_INFINITY)).thenComparing(byId));
        for (ModelInfo m : sorted) {
          Double s = intent.domainScores().get(m.id());
          if (s == null) continue;
          scores.add(String.format(Locale.ROOT, "%s %.2f", m.id(), s));
          if (s > bestScore) {
            bestScore = s;
            best = m;
          }
        }
        if (best == null) {
          ModelInfo m = candidates.stream().min(Comparator.comparingLong(ModelInfo::parameters).thenComparing(byId)).get();
          reasons.add("model " + m.id() + ": no domain profile yet, smallest that fits");
          return m;
        }
        reasons.add("model " + best.id() + ": closest domain (" + intent.domainSource() + " cosine: "
            + String.join(" > ", scores) + ")");
        return best;
      }
      default: {
        for (ModelInfo m : candidates) {
          if (m.id().equals(selector)) {
            reasons.add("model " + m.id() + " named by the policy");
            return m;
          }
        }
        return null;
      }
    }
  }
}

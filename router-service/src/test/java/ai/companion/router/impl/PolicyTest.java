package ai.companion.router.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.ModelInfo;
import ai.companion.api.spi.DomainProfile;
import ai.companion.api.spi.Intent;
import ai.companion.api.spi.NormalizedInput;
import ai.companion.api.spi.RoutePlan;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PolicyTest {

  static final ModelInfo STORIES = new ModelInfo("stories260k", "llama", 512, 260_000, "fp32", "");
  static final ModelInfo DREAMS = new ModelInfo("aidreams260k", "llama", 128, 233_000, "fp32", "");
  static final List<ModelInfo> MODELS = List.of(DREAMS, STORIES);

  static Intent intent(String text, Map<String, Double> domain, JsonArray hits, JsonObject hints, Integer max) {
    JsonObject knowledge = hits == null ? null : new JsonObject().put("results", hits);
    NormalizedInput in = new NormalizedInput("r1", text, text, max, hints);
    Map<String, DomainProfile> profiles = Map.of();
    Intent base = FeatureRecognizer.build(in, MODELS, profiles, TextFeatures.questionScore(text), null, knowledge);
    return new Intent(in, base.tokens(), base.tokensByModel(), base.language(), base.languageConfidence(), domain,
        domain.isEmpty() ? "none" : "embedding", base.latency(), base.questionScore(), base.knowledgeScore(),
        base.knowledgeHits(), base.pattern(), base.notes(), base.extra());
  }

  static YamlRoutingPolicy defaultPolicy() throws Exception {
    return YamlRoutingPolicy.of(Policy.parse(YamlRoutingPolicy.defaultPolicyText()));
  }

  @Test
  void theDefaultPolicyParses() throws Exception {
    Policy p = Policy.parse(YamlRoutingPolicy.defaultPolicyText());
    assertEquals(5, p.rules().size());
    assertEquals("long-document", p.rules().get(0).name());
    assertEquals(List.of("knowledge", "direct"), p.rules().get(1).learn());
    assertEquals(0.45, p.rules().get(1).when().minKnowledgeScore());
    assertEquals("domain", p.defaults().model());
  }

  @Test
  void badFilesAreRejectedWithTheReason() {
    var e1 = assertThrows(Policy.PolicyException.class, () -> Policy.parse("rules: [\n  - name: x\n   when: {"));
    assertTrue(e1.getMessage().contains("line"), e1.getMessage());
    var e2 = assertThrows(Policy.PolicyException.class, () -> Policy.parse("rules:\n  - name: x\n    wen: {}\n"));
    assertTrue(e2.getMessage().contains("unknown key 'wen'"), e2.getMessage());
    var e3 = assertThrows(Policy.PolicyException.class, () -> Policy.parse("rules:\n  - name: x\n    strategy: magic\n"));
    assertTrue(e3.getMessage().contains("unknown strategy 'magic'"), e3.getMessage());
    var e4 = assertThrows(Policy.PolicyException.class, () -> Policy.parse("defaults: {latency: soon}\n"));
    assertTrue(e4.getMessage().contains("interactive or batch"), e4.getMessage());
    var e5 = assertThrows(Policy.PolicyException.class, () -> Policy.parse("- just\n- a list\n"));
    assertTrue(e5.getMessage().contains("mapping"), e5.getMessage());
    var e6 = assertThrows(Policy.PolicyException.class,
        () -> Policy.parse("rules:\n  - name: a\n  - name: a\n"));
    assertTrue(e6.getMessage().contains("used twice"), e6.getMessage());
  }

  @Test
  void aDocumentLongerThanEveryContextIsChunkedOnTheLargestContext() throws Exception {
    String doc = "The committee met on Tuesday to review the quarterly figures. ".repeat(60);
    RoutePlan plan = defaultPolicy().decideNow(intent(doc, Map.of(), null, new JsonObject(), null), MODELS,
        new ThompsonBandit(1));
    assertEquals("chunked", plan.strategy());
    assertEquals("stories260k", plan.model());
    assertTrue(plan.plan().getInteger("chunks") >= 2, plan.plan().encode());
    assertTrue(plan.reasons().get(0).contains("long-document"), plan.reasons().toString());
  }

  @Test
  void aPromptTooLongForOneModelGoesToOneWhoseContextHoldsIt() throws Exception {
    // ~150 generic tokens: too long for aidreams260k's 128, fine for stories260k's 512
    String text = "the little dog ran and jumped in the sunny park with his friend ".repeat(10);
    RoutePlan plan = defaultPolicy().decideNow(intent(text, Map.of("aidreams260k", 0.6, "stories260k", 0.2), null,
        new JsonObject(), null), MODELS, new ThompsonBandit(1));
    assertEquals("stories260k", plan.model());
  }

  @Test
  void aShortQuestionGetsTheSmallModelAndALearnedStrategy() throws Exception {
    JsonArray hits = new JsonArray().add(new JsonObject().put("text", "Run ./companion model import").put("similarity", 0.9));
    RoutePlan plan = defaultPolicy().decideNow(intent("How do I import a model?", Map.of(), hits, new JsonObject(),
        null), MODELS, new ThompsonBandit(3));
    assertEquals("aidreams260k", plan.model(), "smallest by parameters");
    assertTrue(List.of("knowledge", "direct").contains(plan.strategy()));
    assertEquals("en:how/short/hit", plan.pattern());
    assertTrue(plan.reasons().stream().anyMatch(r -> r.contains("Thompson")), plan.reasons().toString());
  }

  @Test
  void withoutAKnowledgeServiceTheKnowledgeStrategyIsLeftOut() throws Exception {
    RoutePlan plan = defaultPolicy().decideNow(intent("What is the capital of France?", Map.of(), null,
        new JsonObject(), null), MODELS, new ThompsonBandit(3));
    assertEquals("direct", plan.strategy());
    assertTrue(plan.reasons().stream().anyMatch(r -> r.contains("knowledge strategy left out")), plan.reasons().toString());
  }

  @Test
  void aClearDomainMatchPicksTheSpecialist() throws Exception {
    RoutePlan plan = defaultPolicy().decideNow(intent("Write about the hum of circuits in my sleep",
        Map.of("aidreams260k", 0.41, "stories260k", 0.12), null, new JsonObject(), null), MODELS, new ThompsonBandit(1));
    assertEquals("aidreams260k", plan.model());
    assertEquals("specialist", plan.strategy());
  }

  @Test
  void latencyComesFromTheHintElseThePerKeyDefault() throws Exception {
    Policy p = Policy.parse("latency_by_key: {nightly-reports: batch}\nrules:\n"
        + "  - name: batch\n    when: {latency: batch}\n    model: largest\n    strategy: direct\n");
    YamlRoutingPolicy y = YamlRoutingPolicy.of(p);
    RoutePlan byKey = y.decideNow(intent("Summarise the sales", Map.of(), null,
        new JsonObject().put("apiKeyId", "nightly-reports"), null), MODELS, new ThompsonBandit(1));
    assertEquals("stories260k", byKey.model());
    assertEquals("batch", byKey.plan().getString("latency"));
    RoutePlan hinted = y.decideNow(intent("Summarise the sales", Map.of(), null,
        new JsonObject().put("apiKeyId", "nightly-reports").put("latency", "interactive"), null), MODELS,
        new ThompsonBandit(1));
    assertEquals("interactive", hinted.plan().getString("latency"));
    assertTrue(hinted.reasons().get(0).startsWith("policy defaults"), hinted.reasons().toString());
  }

  @Test
  void aRuleNamingAnUnservedModelFallsThrough() throws Exception {
    Policy p = Policy.parse("rules:\n  - name: gone\n    model: llama-70b\n    strategy: direct\n");
    RoutePlan plan = YamlRoutingPolicy.of(p).decideNow(intent("hello there", Map.of(), null, new JsonObject(), null),
        MODELS, new ThompsonBandit(1));
    assertTrue(plan.reasons().stream().anyMatch(r -> r.contains("'llama-70b' is not served")), plan.reasons().toString());
    assertTrue(plan.reasons().get(0).startsWith("policy defaults"));
  }
}

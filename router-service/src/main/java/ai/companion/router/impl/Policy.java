package ai.companion.router.impl;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;

/**
 * A parsed routing policy: defaults, per-key latency defaults and ordered rules. {@link #parse} validates
 * everything (unknown keys, wrong types, unknown strategies) and fails with a message that names the place,
 * so that a bad edit is rejected as a whole and the previous policy stays in force.
 */
public record Policy(int version, Defaults defaults, Map<String, String> latencyByKey, List<Rule> rules) {

  public static final Set<String> STRATEGIES = Set.of("direct", "knowledge", "chunked", "specialist");
  public static final Set<String> SELECTORS = Set.of("domain", "smallest", "largest", "largest-context");
  public static final Set<String> LATENCIES = Set.of("interactive", "batch");

  public record Defaults(String model, String strategy, String latency, double questionThreshold) {}

  /** Conditions of a rule; null fields are not checked. */
  public record When(Boolean question, Integer minTokens, Integer maxTokens, Boolean exceedsContext,
                     List<String> language, String latency, Double minDomainScore, Double minDomainMargin,
                     Double minKnowledgeScore) {}

  /**
   * @param strategy a fixed strategy, or null when {@code learn} lists the arms a learner picks from
   * @param priors per arm, the prior successes and failures the learner starts with
   */
  public record Rule(String name, When when, String model, String strategy, List<String> learn,
                     Map<String, double[]> priors) {}

  public static class PolicyException extends Exception {
    public PolicyException(String message) {
      super(message);
    }
  }

  public static Policy parse(String yamlText) throws PolicyException {
    Object root;
    try {
      root = new Yaml(new SafeConstructor(new LoaderOptions())).load(yamlText);
    } catch (MarkedYAMLException e) {
      throw new PolicyException("not valid YAML at line " + (e.getProblemMark().getLine() + 1) + ", column "
          + (e.getProblemMark().getColumn() + 1) + ": " + e.getProblem());
    } catch (YAMLException e) {
      throw new PolicyException("not valid YAML: " + e.getMessage());
    }
    if (!(root instanceof Map<?, ?> top)) throw new PolicyException("the policy must be a mapping at the top");
    Map<String, Object> m = map(top, "policy", Set.of("version", "defaults", "latency_by_key", "rules"));
    int version = intOr(m.get("version"), "version", 1);
    if (version != 1) throw new PolicyException("version: only 1 is known, got " + version);

    Map<String, Object> d = m.get("defaults") == null ? Map.of()
        : map(m.get("defaults"), "defaults", Set.of("model", "strategy", "latency", "question_threshold"));
    Defaults defaults = new Defaults(model(d.get("model"), "defaults.model", "domain"),
        strategy(d.get("strategy"), "defaults.strategy", "direct"),
        latency(d.get("latency"), "defaults.latency", "interactive"),
        dbl(d.get("question_threshold"), "defaults.question_threshold", 0.5));

    Map<String, String> byKey = new LinkedHashMap<>();
    if (m.get("latency_by_key") != null) {
      if (!(m.get("latency_by_key") instanceof Map<?, ?> lk)) throw new PolicyException("latency_by_key must be a mapping");
      for (var e : lk.entrySet()) {
        byKey.put(String.valueOf(e.getKey()), latency(e.getValue(), "latency_by_key." + e.getKey(), null));
      }
    }

    List<Rule> rules = new ArrayList<>();
    Object rs = m.get("rules");
    if (rs != null) {
      if (!(rs instanceof List<?> list)) throw new PolicyException("rules must be a list");
      Set<String> names = new java.util.HashSet<>();
      for (int i = 0; i < list.size(); i++) {
        String where = "rules[" + i + "]";
        Map<String, Object> r = map(list.get(i), where, Set.of("name", "when", "model", "strategy"));
        String name = r.get("name") == null ? "rule-" + (i + 1) : String.valueOf(r.get("name"));
        where = "rule '" + name + "'";
        if (!names.add(name)) throw new PolicyException(where + ": the name is used twice");
        When when = when(r.get("when"), where + ".when");
        String model = model(r.get("model"), where + ".model", defaults.model());
        Object s = r.get("strategy");
        if (s instanceof Map<?, ?> sm) {
          Map<String, Object> learn = map(sm, where + ".strategy", Set.of("learn", "prior"));
          if (!(learn.get("learn") instanceof List<?> arms) || arms.size() < 1) {
            throw new PolicyException(where + ".strategy.learn must list at least one strategy");
          }
          List<String> armList = new ArrayList<>();
          for (Object a : arms) armList.add(strategy(a, where + ".strategy.learn", null));
          Map<String, double[]> priors = new LinkedHashMap<>();
          if (learn.get("prior") != null) {
            Map<String, Object> pm = map(learn.get("prior"), where + ".strategy.prior", Set.copyOf(armList));
            for (var e : pm.entrySet()) {
              if (!(e.getValue() instanceof List<?> ab) || ab.size() != 2
                  || !(ab.get(0) instanceof Number a) || !(ab.get(1) instanceof Number b)
                  || a.doubleValue() <= 0 || b.doubleValue() <= 0) {
                throw new PolicyException(where + ".strategy.prior." + e.getKey()
                    + " must be [successes, failures], both > 0");
              }
              priors.put(e.getKey(), new double[] {a.doubleValue(), b.doubleValue()});
            }
          }
          rules.add(new Rule(name, when, model, null, List.copyOf(armList), priors));
        } else {
          rules.add(new Rule(name, when, model, strategy(s, where + ".strategy", defaults.strategy()), List.of(),
              Map.of()));
        }
      }
    }
    return new Policy(version, defaults, byKey, List.copyOf(rules));
  }

  private static When when(Object o, String where) throws PolicyException {
    if (o == null) return new When(null, null, null, null, null, null, null, null, null);
    Map<String, Object> w = map(o, where, Set.of("question", "min_tokens", "max_tokens", "exceeds_context",
        "language", "latency", "min_domain_score", "min_domain_margin", "min_knowledge_score"));
    List<String> langs = null;
    Object l = w.get("language");
    if (l instanceof String s) langs = List.of(s.toLowerCase(Locale.ROOT));
    else if (l instanceof List<?> list) langs = list.stream().map(x -> String.valueOf(x).toLowerCase(Locale.ROOT)).toList();
    else if (l != null) throw new PolicyException(where + ".language must be a code or a list of codes");
    return new When(bool(w.get("question"), where + ".question"), intOrNull(w.get("min_tokens"), where + ".min_tokens"),
        intOrNull(w.get("max_tokens"), where + ".max_tokens"), bool(w.get("exceeds_context"), where + ".exceeds_context"),
        langs, w.get("latency") == null ? null : latency(w.get("latency"), where + ".latency", null),
        dblOrNull(w.get("min_domain_score"), where + ".min_domain_score"),
        dblOrNull(w.get("min_domain_margin"), where + ".min_domain_margin"),
        dblOrNull(w.get("min_knowledge_score"), where + ".min_knowledge_score"));
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> map(Object o, String where, Set<String> allowed) throws PolicyException {
    if (!(o instanceof Map<?, ?> m)) throw new PolicyException(where + " must be a mapping");
    for (Object k : m.keySet()) {
      if (!allowed.contains(String.valueOf(k))) {
        throw new PolicyException(where + ": unknown key '" + k + "' (known: " + new java.util.TreeSet<>(allowed) + ")");
      }
    }
    return (Map<String, Object>) m;
  }

  private static String model(Object o, String where, String dflt) throws PolicyException {
    if (o == null) return dflt;
    if (!(o instanceof String s) || s.isBlank()) throw new PolicyException(where + " must be a selector "
        + SELECTORS + " or a model id");
    return s;
  }

  private static String strategy(Object o, String where, String dflt) throws PolicyException {
    if (o == null && dflt != null) return dflt;
    if (!(o instanceof String s) || !STRATEGIES.contains(s)) {
      throw new PolicyException(where + ": unknown strategy '" + o + "' (known: " + new java.util.TreeSet<>(STRATEGIES) + ")");
    }
    return s;
  }

  private static String latency(Object o, String where, String dflt) throws PolicyException {
    if (o == null && dflt != null) return dflt;
    if (!(o instanceof String s) || !LATENCIES.contains(s)) {
      throw new PolicyException(where + ": latency must be interactive or batch, got '" + o + "'");
    }
    return s;
  }

  private static Boolean bool(Object o, String where) throws PolicyException {
    if (o == null) return null;
    if (!(o instanceof Boolean b)) throw new PolicyException(where + " must be true or false, got '" + o + "'");
    return b;
  }

  private static int intOr(Object o, String where, int dflt) throws PolicyException {
    Integer i = intOrNull(o, where);
    return i == null ? dflt : i;
  }

  private static Integer intOrNull(Object o, String where) throws PolicyException {
    if (o == null) return null;
    if (!(o instanceof Integer i) || i < 0) throw new PolicyException(where + " must be a whole number >= 0, got '" + o + "'");
    return i;
  }

  private static double dbl(Object o, String where, double dflt) throws PolicyException {
    Double d = dblOrNull(o, where);
    return d == null ? dflt : d;
  }

  private static Double dblOrNull(Object o, String where) throws PolicyException {
    if (o == null) return null;
    if (!(o instanceof Number n)) throw new PolicyException(where + " must be a number, got '" + o + "'");
    return n.doubleValue();
  }
}

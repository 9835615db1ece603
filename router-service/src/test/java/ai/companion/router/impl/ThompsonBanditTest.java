package ai.companion.router.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ThompsonBanditTest {

  static final List<String> ARMS = List.of("knowledge", "direct");

  static double share(ThompsonBandit b, String pattern, String arm, Map<String, double[]> priors) {
    int n = 0;
    for (int i = 0; i < 1000; i++) if (b.choose(pattern, ARMS, priors).arm().equals(arm)) n++;
    return n / 1000.0;
  }

  @Test
  void priorsTiltTheFirstChoicesAndRewardsOverrideThem() {
    ThompsonBandit b = new ThompsonBandit(11);
    Map<String, double[]> priors = Map.of("knowledge", new double[] {3, 1});
    double before = share(b, "p", "knowledge", priors);
    assertTrue(before > 0.7, "prior favours knowledge: " + before);
    for (int i = 0; i < 30; i++) {
      b.reward("p", "knowledge", 0, 1);
      b.reward("p", "direct", 1, 1);
    }
    double after = share(b, "p", "knowledge", priors);
    assertTrue(after < 0.05, "after 30 bad knowledge answers: " + after);
    // other patterns are untouched
    assertTrue(share(b, "q", "knowledge", priors) > 0.7);
  }

  @Test
  void cheapSignalsCountLessThanAUserRating() {
    ThompsonBandit b = new ThompsonBandit(5);
    b.reward("p", "direct", 1, 0.3);
    b.reward("p", "knowledge", 0, 1);
    assertEquals(0.3, b.evidence("p", "direct")[0], 1e-9);
    assertEquals(1.0, b.evidence("p", "knowledge")[1], 1e-9);
  }

  @Test
  void decisionsAndRewardsSurviveARestartAndATornLine(@TempDir Path dir) throws Exception {
    ThompsonBandit b1 = new ThompsonBandit(1);
    try (DecisionLog log = DecisionLog.open(dir, b1)) {
      log.appendDecision(new DecisionLog.Decision("req-1", "en:how/short/hit", "knowledge", "m", 24, 1));
      log.appendReward("req-1", "en:how/short/hit", "knowledge", 0.0, 1.0, "user");
      log.appendReward("req-1", "en:how/short/hit", "knowledge", 1.0, 0.25, "retrieval");
    }
    // a crash in the middle of a line
    Files.writeString(dir.resolve("decisions.jsonl"), "{\"t\":\"r\",\"id\":\"req-2\",\"p\":", java.nio.file.StandardOpenOption.APPEND);
    ThompsonBandit b2 = new ThompsonBandit(1);
    try (DecisionLog log = DecisionLog.open(dir, b2)) {
      assertEquals(1, log.replayedDecisions());
      assertEquals(2, log.replayedRewards());
      assertEquals("knowledge", log.find("req-1").strategy());
      double[] e = b2.evidence("en:how/short/hit", "knowledge");
      assertEquals(0.25, e[0], 1e-9);
      assertEquals(1.0, e[1], 1e-9);
    }
  }

  /** One write per group in the given order; a sync only for a group with a reward in it. */
  @Test
  void aGroupOfLinesIsWrittenInOrderAndSyncedOnlyForRewards(@TempDir Path dir) throws Exception {
    ThompsonBandit b1 = new ThompsonBandit(1);
    try (DecisionLog log = DecisionLog.open(dir, b1)) {
      log.append(List.of(new DecisionLog.Decision("a", "p", "direct", "m", 10, 1),
          new DecisionLog.Decision("b", "p", "direct", "m", 10, 2)));
      assertEquals(0, log.forces(), "decisions alone are not synced");
      assertEquals("direct", log.find("b").strategy());
      log.append(List.of(new DecisionLog.Decision("c", "p", "knowledge", "m", 10, 3),
          new DecisionLog.Reward("c", "p", "knowledge", 1.0, 1.0, "user"),
          new DecisionLog.Reward("a", "p", "direct", 0.0, 1.0, "user")));
      assertEquals(1, log.forces(), "one sync for the group");
    }
    List<String> kinds = Files.readAllLines(dir.resolve("decisions.jsonl")).stream()
        .map(io.vertx.core.json.JsonObject::new).map(j -> j.getString("t") + j.getString("id"))
        .toList();
    assertEquals(List.of("da", "db", "dc", "rc", "ra"), kinds);
    ThompsonBandit b2 = new ThompsonBandit(1);
    try (DecisionLog log = DecisionLog.open(dir, b2)) {
      assertEquals(3, log.replayedDecisions());
      assertEquals(2, log.replayedRewards());
      assertEquals(1.0, b2.evidence("p", "knowledge")[0], 1e-9);
      assertEquals(1.0, b2.evidence("p", "direct")[1], 1e-9);
    }
  }

  @Test
  void aLongLogIsCompactedToTotalsAndRecentDecisions(@TempDir Path dir) throws Exception {
    ThompsonBandit b1 = new ThompsonBandit(1);
    try (DecisionLog log = DecisionLog.open(dir, b1)) {
      for (int i = 0; i < 50; i++) {
        log.appendDecision(new DecisionLog.Decision("r" + i, "p" + (i % 3), i % 2 == 0 ? "direct" : "knowledge", "m", 10, i));
        log.appendReward("r" + i, "p" + (i % 3), i % 2 == 0 ? "direct" : "knowledge", i % 5 == 0 ? 0 : 1, 0.5, "user");
      }
    }
    long before = Files.size(dir.resolve("decisions.jsonl"));
    ThompsonBandit b2 = new ThompsonBandit(1);
    try (DecisionLog log = DecisionLog.open(dir, b2, 40)) {
      assertEquals("knowledge", log.find("r49").strategy());
    }
    assertTrue(Files.size(dir.resolve("decisions.jsonl")) < before);
    ThompsonBandit b3 = new ThompsonBandit(1);
    try (DecisionLog log = DecisionLog.open(dir, b3)) {
      assertEquals(50, log.replayedDecisions());
      assertEquals(0, log.replayedRewards());
      assertEquals(6, Files.readAllLines(dir.resolve("decisions.jsonl")).stream()
          .filter(l -> l.contains("\"t\":\"s\"")).count(), "3 patterns x 2 strategies");
      for (String p : List.of("p0", "p1", "p2")) {
        for (String a : ARMS) {
          // b2 replayed the full log, b3 the compacted one
          assertTrue(b2.evidence(p, a)[0] + b2.evidence(p, a)[1] > 0);
          assertEquals(b2.evidence(p, a)[0], b3.evidence(p, a)[0], 1e-9);
          assertEquals(b2.evidence(p, a)[1], b3.evidence(p, a)[1], 1e-9);
        }
      }
    }
  }
}

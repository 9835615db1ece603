package ai.companion.router.impl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.companion.api.ChatMessage;
import ai.companion.api.GenerationRequest;
import ai.companion.api.ModelInfo;
import ai.companion.api.SamplingParams;
import ai.companion.api.WorkerInfo;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PrefixAffinityTest {
  private static final ModelInfo M = new ModelInfo("m", "llama", 512, 1, "fp32", "");
  private static final String FIRST = "Tell me a story about a little girl who finds a red ball in the park, please";

  private static GenerationRequest chat(String... contents) {
    List<ChatMessage> messages = new ArrayList<>();
    messages.add(new ChatMessage("system", "Be kind."));
    for (int i = 0; i < contents.length; i++) {
      messages.add(new ChatMessage(i % 2 == 0 ? "user" : "assistant", contents[i]));
    }
    return new GenerationRequest("r", "m", null, messages, SamplingParams.GREEDY, "s", List.of(), null);
  }

  private static GenerationRequest completion(String prompt) {
    return new GenerationRequest("r", "m", prompt, null, SamplingParams.GREEDY, "s", List.of(), null);
  }

  @Test void aConversationKeepsItsKeyFromTurnToTurn() {
    String turn1 = PrefixAffinity.key(chat(FIRST));
    assertEquals("Be kind.\n" + FIRST + "\n", turn1);
    assertEquals(turn1, PrefixAffinity.key(chat(FIRST, "Once upon a time...", "And then?")));
    assertNotEquals(turn1, PrefixAffinity.key(chat(FIRST + " today")), "another conversation");
    // too short to be cached anywhere: no key, the least loaded decides
    assertNull(PrefixAffinity.key(chat("A story?")));
    assertNull(PrefixAffinity.key(completion("Once upon a time")));
    String longPrompt = "x".repeat(2000);
    assertEquals(PrefixAffinity.KEY_CHARS, PrefixAffinity.key(completion(longPrompt)).length());
    assertEquals(PrefixAffinity.key(completion(longPrompt)), PrefixAffinity.key(completion(longPrompt + " more")));
  }

  private static List<WorkerInfo> workers(String... ids) {
    List<WorkerInfo> out = new ArrayList<>();
    for (String id : ids) out.add(new WorkerInfo(id, "n-" + id, List.of(M), "cpu", 0, 0, 0, 1));
    return out;
  }

  /** Rendezvous hashing: a worker leaving moves only the keys it owned; keys spread over the workers. */
  @Test void keysKeepTheirWorkerWhenAnotherLeaves() {
    WorkerView view = new WorkerView(Long.MAX_VALUE);
    List<WorkerInfo> four = workers("w1", "w2", "w3", "w4");
    Set<String> owners = new HashSet<>();
    int moved = 0;
    for (int k = 0; k < 200; k++) {
      String key = FIRST + " " + k;
      String owner = view.choose(four, "m", Set.of(), key, 4).load().worker().workerId();
      owners.add(owner);
      List<WorkerInfo> three = new ArrayList<>(four);
      three.removeIf(w -> w.workerId().equals(owner.equals("w2") ? "w3" : "w2"));
      if (!view.choose(three, "m", Set.of(), key, 4).load().worker().workerId().equals(owner)) moved++;
    }
    assertEquals(4, owners.size(), "200 keys over 4 workers");
    assertEquals(0, moved, "no key moved when a worker it did not belong to left");
  }

  @Test void aSlackOfZeroIsTheLeastLoadedAlways() {
    WorkerView view = new WorkerView(Long.MAX_VALUE);
    List<WorkerInfo> two = List.of(new WorkerInfo("a", "n", List.of(M), "cpu", 1, 0, 10, 1),
        new WorkerInfo("b", "n", List.of(M), "cpu", 1, 0, 10, 1));
    int b = 0;
    for (int k = 0; k < 40; k++) {
      WorkerView.Choice c = view.choose(two, "m", Set.of(), FIRST + k, 0);
      assertEquals("a", c.load().worker().workerId(), "ties go by id");
      assertTrue(!c.affinity());
      if (view.choose(two, "m", Set.of(), FIRST + k, 4).load().worker().workerId().equals("b")) b++;
    }
    assertTrue(b > 0, "with a slack some keys belong to b");
  }

  @Test void theSlackIsARouterOption() {
    assertEquals(ai.companion.router.RouterOptions.DEFAULT_AFFINITY_SLACK, new ai.companion.router.RouterOptions()
        .getAffinitySlack());
    assertEquals(0, new ai.companion.router.RouterOptions(new ai.companion.router.RouterOptions().setAffinitySlack(0)
        .toJson()).getAffinitySlack());
    org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> new ai.companion.router.RouterOptions().setAffinitySlack(-1));
  }
}
